//! Live sound on Linux through the ALSA library, loaded at run time.
//!
//! This and the AVX lanes of `sound::loudness` are the crate's only `unsafe`
//! code. Linking ALSA at build time would need `libasound2-dev`; instead
//! `libasound.so.2` (present on every Linux desktop, and the way to
//! PulseAudio and PipeWire through ALSA's `default` device) is opened with
//! `dlopen` when playback starts, and only the nine functions below are
//! looked up. Everything outside this file sees a
//! safe [`AlsaOutput`]: open, write, drain or drop, close.
//!
//! Invariants the `unsafe` blocks rely on:
//!
//! 1. The function pointers in [`Api`] were read from the library with the
//!    C signatures of `alsa/pcm.h` and `alsa/error.h` (alsa-lib 1.0 onwards),
//!    and the [`Library`] they came from lives in the same [`Api`], so it is
//!    never unloaded while a pointer can still be called.
//! 2. [`AlsaOutput::pcm`] is a handle returned by a successful `snd_pcm_open`
//!    and not yet closed; it is closed exactly once, in `Drop`.
//! 3. A `snd_pcm_t` may not be used by two threads at once. [`AlsaOutput`]
//!    holds a raw pointer, so it is neither `Send` nor `Sync`: it lives and
//!    dies on the thread that opened it.
//! 4. Buffers passed to `snd_pcm_writei` hold at least `frames × channels`
//!    samples of the format the device was set up with.

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_uint, c_ulong, c_void};
use std::ptr;

use libloading::Library;

use super::PlayError;

/// The ALSA runtime library's file name (package libasound2).
pub(crate) const LIBRARY: &str = "libasound.so.2";

/// How much sound ALSA holds ahead of the speaker. Pausing and quitting act
/// within this time; shorter risks underruns on a busy machine.
const LATENCY_MICROS: c_uint = 100_000;

// Constants from alsa/pcm.h.
const SND_PCM_STREAM_PLAYBACK: c_int = 0;
const SND_PCM_NONBLOCK: c_int = 1;
const SND_PCM_FORMAT_S16_LE: c_int = 2;
const SND_PCM_FORMAT_FLOAT_LE: c_int = 14;
const SND_PCM_ACCESS_RW_INTERLEAVED: c_int = 3;

type Pcm = c_void;

/// `snd_local_error_handler_t`: `void (*)(const char *file, int line, const
/// char *func, int errcode, const char *fmt, va_list arg)`.
///
/// Not variadic: the arguments arrive as one `va_list`, which on every Linux
/// ABI is passed as a single pointer-sized value (a pointer to the list on
/// x86-64, AArch64, PowerPC and s390x; a pointer-sized struct or `char *`
/// elsewhere), so a Rust function can take it as `*mut c_void`. The global
/// `snd_lib_error_set_handler` takes a variadic C function instead, which
/// stable Rust cannot define soundly; the local handler avoids that.
type LocalErrorHandler = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    function: *const c_char,
    err: c_int,
    fmt: *const c_char,
    args: *mut c_void,
);

/// Swallows ALSA's diagnostics. Without it a machine with no sound card gets
/// several "ALSA lib pcm.c:…" lines on stderr before our own message, which
/// already says what failed (from the error code).
unsafe extern "C" fn ignore_alsa_message(
    _file: *const c_char,
    _line: c_int,
    _function: *const c_char,
    _err: c_int,
    _fmt: *const c_char,
    _args: *mut c_void,
) {
}

/// The ALSA functions used, resolved from one loaded library (invariant 1).
struct Api {
    open: unsafe extern "C" fn(*mut *mut Pcm, *const c_char, c_int, c_int) -> c_int,
    nonblock: unsafe extern "C" fn(*mut Pcm, c_int) -> c_int,
    set_params:
        unsafe extern "C" fn(*mut Pcm, c_int, c_int, c_uint, c_uint, c_int, c_uint) -> c_int,
    writei: unsafe extern "C" fn(*mut Pcm, *const c_void, c_ulong) -> c_long,
    recover: unsafe extern "C" fn(*mut Pcm, c_int, c_int) -> c_int,
    drain: unsafe extern "C" fn(*mut Pcm) -> c_int,
    drop: unsafe extern "C" fn(*mut Pcm) -> c_int,
    close: unsafe extern "C" fn(*mut Pcm) -> c_int,
    strerror: unsafe extern "C" fn(c_int) -> *const c_char,
    /// Absent before alsa-lib 1.1.6 (2018); then ALSA's messages stay on.
    set_local_error:
        Option<unsafe extern "C" fn(Option<LocalErrorHandler>) -> Option<LocalErrorHandler>>,
    /// Kept last so the pointers above never outlive it.
    _library: Library,
}

impl Api {
    /// Loads `library` and resolves the functions.
    fn load(library: &str) -> Result<Api, PlayError> {
        let no_library = |error: libloading::Error| PlayError::NoLibrary {
            library: library.to_owned(),
            reason: error_chain(&error),
        };
        // SAFETY: loading libasound runs its ELF constructors, which only set
        // up the library's own state; it has no initialisation-order
        // requirements on the host program.
        let lib = unsafe { Library::new(library) }.map_err(no_library)?;
        // SAFETY (all `get`s): each type below is the documented C signature
        // of the symbol named (alsa/pcm.h, alsa/error.h); the pointer is
        // copied out of the `Symbol` and stored beside `lib` (invariant 1).
        unsafe {
            Ok(Api {
                open: *lib.get(c"snd_pcm_open").map_err(no_library)?,
                nonblock: *lib.get(c"snd_pcm_nonblock").map_err(no_library)?,
                set_params: *lib.get(c"snd_pcm_set_params").map_err(no_library)?,
                writei: *lib.get(c"snd_pcm_writei").map_err(no_library)?,
                recover: *lib.get(c"snd_pcm_recover").map_err(no_library)?,
                drain: *lib.get(c"snd_pcm_drain").map_err(no_library)?,
                drop: *lib.get(c"snd_pcm_drop").map_err(no_library)?,
                close: *lib.get(c"snd_pcm_close").map_err(no_library)?,
                strerror: *lib.get(c"snd_strerror").map_err(no_library)?,
                set_local_error: lib.get(c"snd_lib_error_set_local").ok().map(|s| *s),
                _library: lib,
            })
        }
    }

    /// ALSA's text for a negative error code.
    fn describe(&self, err: c_int) -> String {
        // SAFETY: snd_strerror accepts any int and returns a pointer to a
        // static NUL-terminated string (or null for codes it does not know).
        let text = unsafe { (self.strerror)(err) };
        if text.is_null() {
            return format!("error {err}");
        }
        // SAFETY: non-null, static and NUL-terminated, see above.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}

/// A libloading error with its cause: libloading's own message is only
/// "dlopen failed"; the reason ("cannot open shared object file: No such file
/// or directory") is in its `source()`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The sample format agreed with the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// 32-bit float, written as is.
    F32,
    /// 16-bit integer, for devices that refuse float.
    I16,
}

/// An open ALSA playback device taking mono `f32` samples.
///
/// Dropping it stops the sound at once (`snd_pcm_drop`); call
/// [`AlsaOutput::drain`] first to let the last samples play out.
pub(crate) struct AlsaOutput {
    api: Api,
    /// Invariants 2 and 3.
    pcm: *mut Pcm,
    format: Format,
    channels: usize,
    /// Conversion buffer for formats other than mono f32.
    scratch: Vec<u8>,
}

impl AlsaOutput {
    /// Opens the ALSA device `device` (usually `"default"`) for mono samples
    /// at `rate`, loading [`LIBRARY`] first.
    pub(crate) fn open(device: &str, rate: u32) -> Result<AlsaOutput, PlayError> {
        Self::open_with(LIBRARY, device, rate)
    }

    /// As [`AlsaOutput::open`], with the library named (tests name a missing one).
    pub(crate) fn open_with(
        library: &str,
        device: &str,
        rate: u32,
    ) -> Result<AlsaOutput, PlayError> {
        let api = Api::load(library)?;
        if let Some(set_local_error) = api.set_local_error {
            // SAFETY: the handler matches snd_local_error_handler_t (see the
            // type's comment) and ignores its arguments; the setting is
            // thread-local and so covers exactly the calls this value makes
            // (invariant 3). The previous handler is null on a fresh thread.
            unsafe { set_local_error(Some(ignore_alsa_message)) };
        }
        let no_device = |reason: String| PlayError::NoDevice {
            device: device.to_owned(),
            reason,
        };
        let name =
            CString::new(device).map_err(|_| no_device("the name contains a NUL byte".into()))?;

        let mut pcm: *mut Pcm = ptr::null_mut();
        // SAFETY: `pcm` is a valid out-pointer and `name` a NUL-terminated
        // string that outlives the call. NONBLOCK makes a busy device fail at
        // once instead of waiting for it (which would hang the player).
        let err = unsafe {
            (api.open)(
                &mut pcm,
                name.as_ptr(),
                SND_PCM_STREAM_PLAYBACK,
                SND_PCM_NONBLOCK,
            )
        };
        if err < 0 || pcm.is_null() {
            return Err(no_device(api.describe(err)));
        }
        // From here `output` owns the handle and closes it on every path.
        let mut output = AlsaOutput {
            api,
            pcm,
            format: Format::F32,
            channels: 1,
            scratch: Vec::new(),
        };
        // SAFETY: open handle (invariant 2). Writes should block while the
        // device's buffer is full: that is what paces the writer thread.
        let err = unsafe { (output.api.nonblock)(output.pcm, 0) };
        if err < 0 {
            return Err(no_device(output.api.describe(err)));
        }
        output.set_params(rate).map_err(no_device)?;
        Ok(output)
    }

    /// Agrees on a format, trying what needs no conversion first. `default`
    /// goes through ALSA's plug layer (or a sound server) and takes mono
    /// float at any rate; a raw `hw:` device may only take stereo 16-bit.
    fn set_params(&mut self, rate: u32) -> Result<(), String> {
        let mut first_error = None;
        for (format, channels) in [
            (Format::F32, 1),
            (Format::I16, 1),
            (Format::F32, 2),
            (Format::I16, 2),
        ] {
            let alsa_format = match format {
                Format::F32 => SND_PCM_FORMAT_FLOAT_LE,
                Format::I16 => SND_PCM_FORMAT_S16_LE,
            };
            // SAFETY: open handle (invariant 2); plain integer arguments.
            // soft_resample = 1 lets ALSA convert the rate if the device
            // cannot run at ours.
            let err = unsafe {
                (self.api.set_params)(
                    self.pcm,
                    alsa_format,
                    SND_PCM_ACCESS_RW_INTERLEAVED,
                    channels as c_uint,
                    rate,
                    1,
                    LATENCY_MICROS,
                )
            };
            if err >= 0 {
                self.format = format;
                self.channels = channels;
                return Ok(());
            }
            first_error.get_or_insert_with(|| self.api.describe(err));
        }
        Err(format!(
            "it accepts neither float nor 16-bit samples at {rate} Hz ({})",
            first_error.unwrap_or_default()
        ))
    }

    /// Plays mono samples, blocking while the device's buffer is full.
    /// Samples beyond ±1 (volume above 100 %) are clipped here rather than
    /// left to the device: some wrap around instead. Recovers from underruns (the speaker
    /// ran dry: a click, not an error); any other failure means the device
    /// is gone.
    pub(crate) fn write(&mut self, samples: &[f32]) -> Result<(), PlayError> {
        let frames = samples.len();
        let bytes_per_frame = match self.format {
            Format::F32 => 4 * self.channels,
            Format::I16 => 2 * self.channels,
        };
        let data: &[u8] = if self.format == Format::F32 && self.channels == 1 {
            self.scratch.clear();
            self.scratch.extend(
                samples
                    .iter()
                    .flat_map(|s| s.clamp(-1.0, 1.0).to_le_bytes()),
            );
            &self.scratch
        } else {
            self.scratch.clear();
            for &s in samples {
                let s = s.clamp(-1.0, 1.0);
                for _ in 0..self.channels {
                    match self.format {
                        Format::F32 => self.scratch.extend(s.to_le_bytes()),
                        Format::I16 => self.scratch.extend(crate::output::to_i16(s).to_le_bytes()),
                    }
                }
            }
            &self.scratch
        };
        let mut done = 0;
        while done < frames {
            let rest = &data[done * bytes_per_frame..];
            // SAFETY: open handle (invariant 2); `rest` holds exactly
            // `frames - done` frames of the agreed format (invariant 4) and
            // is not touched by ALSA after the call returns.
            let n = unsafe {
                (self.api.writei)(self.pcm, rest.as_ptr().cast(), (frames - done) as c_ulong)
            };
            if n >= 0 {
                done += n as usize;
                continue;
            }
            let err = n as c_int;
            // SAFETY: open handle; `silent = 1` keeps ALSA from printing.
            // snd_pcm_recover handles underrun (-EPIPE), suspend (-ESTRPIPE)
            // and interruption (-EINTR) and returns the error otherwise.
            if unsafe { (self.api.recover)(self.pcm, err, 1) } < 0 {
                return Err(PlayError::DeviceLost {
                    reason: self.api.describe(err),
                });
            }
        }
        Ok(())
    }

    /// Blocks until everything written has been played (at most the device
    /// latency, about 0.1 s), then stops the device.
    pub(crate) fn drain(&mut self) -> Result<(), PlayError> {
        // SAFETY: open handle (invariant 2).
        let err = unsafe { (self.api.drain)(self.pcm) };
        if err < 0 {
            return Err(PlayError::DeviceLost {
                reason: self.api.describe(err),
            });
        }
        Ok(())
    }
}

impl Drop for AlsaOutput {
    fn drop(&mut self) {
        // SAFETY: the handle is open (invariant 2) and closed here, once.
        // snd_pcm_drop discards what is still buffered, so quitting is
        // silent at once; after drain it does nothing. Errors are moot: the
        // handle is released either way.
        unsafe {
            (self.api.drop)(self.pcm);
            (self.api.close)(self.pcm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_the_file_the_cause_and_the_way_out() {
        let Err(error) = AlsaOutput::open_with("libasound-vinyasa-missing.so.2", "default", 16_000)
        else {
            panic!("a library that does not exist was loaded");
        };
        let text = error.to_string();
        assert!(text.contains("libasound-vinyasa-missing.so.2"), "{text}");
        // dlerror's reason, not only libloading's "dlopen failed".
        assert!(text.contains("cannot open shared object file"), "{text}");
        assert!(text.contains("install the package libasound2"), "{text}");
        assert!(text.contains("vinyasa export"), "{text}");
    }

    #[test]
    fn error_chain_joins_causes() {
        let error = Wrapper(std::io::Error::other("no such file"));
        assert_eq!(error_chain(&error), "outer: no such file");
    }

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
