//! dc_block: a RemoteMedia node module in Rust (docs/wasm-abi.md), with no crates and no
//! std: it removes the DC offset of f32 audio with a one-pole high-pass filter per channel,
//! y[n] = x[n] - x[n-1] + r * y[n-1], r = exp(-2 pi cutoff_hz / rate).
//!
//! Built by `make modules` (wasm-modules/Makefile) with Debian's rustc and its wasm32
//! standard library (package libstd-rust-dev-wasm32):
//!
//!     rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 \
//!           -C panic=abort -C target-feature=+simd128 -o dc_block.wasm dc_block.rs
#![no_std]

use core::arch::wasm32;

// The node type, in the module's remotemedia.node custom section (docs/wasm-abi.md).
const DECL: &[u8] = br#"{
  "node_type": "dc_block",
  "doc": "Removes the DC offset of f32 audio (any channel count) with a one-pole high-pass filter per channel. Written in Rust.",
  "inputs": [{"name": "in", "kinds": ["audio"]}],
  "outputs": [{"name": "out", "kinds": ["audio"]}],
  "params": [
    {"name": "cutoff_hz", "type": "number", "default": 10, "min": 0.1, "max": 1000, "doc": "the filter's -3 dB corner"}
  ],
  "example": {"cutoff_hz": 20}
}"#;

#[link_section = "remotemedia.node"]
#[used]
static DECLARATION: [u8; DECL.len()] = {
    let mut out = [0u8; DECL.len()];
    let mut i = 0;
    while i < DECL.len() {
        out[i] = DECL[i];
        i += 1;
    }
    out
};

#[link(wasm_import_module = "rm")]
extern "C" {
    fn emit(header: *const u8, data: *const u8, len: u32);
    fn error(msg: *const u8, len: u32);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    wasm32::unreachable()
}

const HEADER: usize = 32;
const MAX_CHANNELS: usize = 64;

// ---- allocator: power-of-two size classes with free lists, grown with memory.grow ----

extern "C" {
    static __heap_base: u8;
}

static mut HEAP_TOP: usize = 0;
static mut FREE: [usize; 32] = [0; 32];
const BLOCK_HEADER: usize = 16;

fn size_class(size: usize) -> usize {
    let need = size + BLOCK_HEADER;
    let mut c = 5;
    while c < 31 && (1usize << c) < need {
        c += 1;
    }
    c
}

/// Returns 16-byte aligned memory for size bytes, or 0 when memory cannot grow.
#[no_mangle]
pub unsafe extern "C" fn rm_alloc(size: u32) -> u32 {
    if size > 0x4000_0000 {
        return 0;
    }
    let c = size_class(size as usize);
    let blk = FREE[c];
    if blk != 0 {
        FREE[c] = *((blk + BLOCK_HEADER) as *const usize);
        return (blk + BLOCK_HEADER) as u32;
    }
    if HEAP_TOP == 0 {
        HEAP_TOP = (&__heap_base as *const u8 as usize + 15) & !15;
    }
    let end = HEAP_TOP + (1usize << c);
    let have = wasm32::memory_size(0) * 65536;
    if end > have && wasm32::memory_grow(0, (end - have + 65535) / 65536) == usize::MAX {
        return 0;
    }
    let blk = HEAP_TOP;
    *(blk as *mut usize) = c;
    HEAP_TOP = end;
    (blk + BLOCK_HEADER) as u32
}

/// Gives back memory from rm_alloc (0 is ignored).
#[no_mangle]
pub unsafe extern "C" fn rm_free(ptr: u32) {
    if ptr == 0 {
        return;
    }
    let blk = ptr as usize - BLOCK_HEADER;
    let c = *(blk as *const usize);
    *(ptr as *mut usize) = FREE[c];
    FREE[c] = blk;
}

// ---- the node ----

static mut CUTOFF_HZ: f64 = 10.0;
static mut RATE: u32 = 0;
static mut R: f32 = 0.0;
static mut X1: [f32; MAX_CHANNELS] = [0.0; MAX_CHANNELS];
static mut Y1: [f32; MAX_CHANNELS] = [0.0; MAX_CHANNELS];

fn fail(msg: &str) -> i32 {
    unsafe { error(msg.as_ptr(), msg.len() as u32) };
    1
}

#[no_mangle]
pub extern "C" fn rm_abi_version() -> i32 {
    1
}

/// The params are a flat JSON object with every default filled in by the host.
#[no_mangle]
pub unsafe extern "C" fn rm_init(ptr: *const u8, len: u32) -> i32 {
    let json = core::slice::from_raw_parts(ptr, len as usize);
    match number_param(json, b"cutoff_hz") {
        Some(v) if v > 0.0 => CUTOFF_HZ = v,
        _ => return fail("dc_block: cutoff_hz must be a positive number"),
    }
    RATE = 0; // the filter is set up by the first frame
    0
}

#[no_mangle]
pub unsafe extern "C" fn rm_process(frame: *mut u8, len: u32) -> i32 {
    let h = core::slice::from_raw_parts(frame, HEADER);
    if h[0] != 1 || h[1] != 1 {
        return fail("dc_block: want f32 audio");
    }
    let channels = u16::from_le_bytes([h[2], h[3]]) as usize;
    let rate = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if channels == 0 || channels > MAX_CHANNELS {
        return fail("dc_block: want 1 to 64 channels");
    }
    if rate != RATE {
        RATE = rate;
        R = exp(-2.0 * core::f64::consts::PI * CUTOFF_HZ / rate as f64) as f32;
        X1 = [0.0; MAX_CHANNELS];
        Y1 = [0.0; MAX_CHANNELS];
    }
    // The guest may write its input buffer: filter in place, then emit it.
    let data = frame.add(HEADER);
    let samples = core::slice::from_raw_parts_mut(data as *mut f32, len as usize / 4);
    let r = R;
    for frame in samples.chunks_exact_mut(channels) {
        for (c, s) in frame.iter_mut().enumerate() {
            let x = *s;
            let y = x - X1[c] + r * Y1[c];
            X1[c] = x;
            Y1[c] = y;
            *s = y;
        }
    }
    let mut out = [0u8; HEADER];
    out[..16].copy_from_slice(&h[..16]);
    out[16..20].copy_from_slice(&0u32.to_le_bytes()); // port 0: out
    emit(out.as_ptr(), data, len);
    0
}

// ---- small helpers (no libm in core) ----

/// e^x for the filter coefficient: range reduction by ln 2 and a Taylor series.
fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    let k = floor(x * core::f64::consts::LOG2_E + 0.5);
    let r = x - k * core::f64::consts::LN_2;
    let (mut term, mut sum) = (1.0, 1.0);
    let mut i = 1.0;
    while i < 18.0 {
        term *= r / i;
        sum += term;
        i += 1.0;
    }
    sum * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// The number at key in a flat JSON object, if there is one.
fn number_param(json: &[u8], key: &[u8]) -> Option<f64> {
    let mut i = 0;
    while i + key.len() + 2 <= json.len() {
        if json[i] == b'"' && json[i + 1..].starts_with(key) && json.get(i + 1 + key.len()) == Some(&b'"') {
            let mut j = i + key.len() + 2;
            while j < json.len() && (json[j] == b' ' || json[j] == b':') {
                j += 1;
            }
            return parse_number(&json[j..]);
        }
        i += 1;
    }
    None
}

fn parse_number(s: &[u8]) -> Option<f64> {
    let (mut i, mut sign, mut v, mut digits) = (0, 1.0, 0.0, 0);
    if s.first() == Some(&b'-') {
        sign = -1.0;
        i = 1;
    }
    while i < s.len() && s[i].is_ascii_digit() {
        v = v * 10.0 + (s[i] - b'0') as f64;
        i += 1;
        digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        let mut scale = 1.0;
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            scale /= 10.0;
            v += (s[i] - b'0') as f64 * scale;
            i += 1;
            digits += 1;
        }
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        let mut neg = false;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            neg = s[i] == b'-';
            i += 1;
        }
        let mut e = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            e = e * 10 + (s[i] - b'0') as i32;
            i += 1;
        }
        while e > 0 {
            v = if neg { v / 10.0 } else { v * 10.0 };
            e -= 1;
        }
    }
    if digits == 0 {
        None
    } else {
        Some(sign * v)
    }
}
