// Package deploy holds no code: its tests check the deployment files beside
// them (the Kubernetes manifests, the container's entry point, the release
// artifacts, a load balancer in front of two servers). It is a module of its
// own so that the Kubernetes API types stay out of the product's dependencies.
package deploy
