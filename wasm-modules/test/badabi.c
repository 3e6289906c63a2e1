/* badabi: claims ABI version 2, which the host must refuse. */
#define RM_EXPORT(name) __attribute__((export_name(name)))

extern unsigned char __heap_base;

RM_EXPORT("rm_abi_version") int rm_abi_version(void) { return 2; }
RM_EXPORT("rm_alloc") void *rm_alloc(int size) { return &__heap_base; }
RM_EXPORT("rm_init") int rm_init(const char *p, int n) { return 0; }
RM_EXPORT("rm_process") int rm_process(unsigned char *f, int n) { return 0; }
