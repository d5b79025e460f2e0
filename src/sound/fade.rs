//! Edge fades: every clip starts and ends at zero, so joins never click.
//!
//! The shape is a raised cosine (half a Hann window): its slope is zero at
//! both ends, so the fade itself adds no corner to the waveform.

/// Gain of a raised-cosine fade-in at `x` in `0.0..=1.0` (0 → 0, 1 → 1).
pub fn raised_cosine(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    0.5 - 0.5 * (std::f64::consts::PI * x).cos()
}

/// Fades the first `n` samples in (the first sample becomes exactly zero).
pub fn fade_in(samples: &mut [f32], n: usize) {
    let n = n.min(samples.len());
    for (i, s) in samples[..n].iter_mut().enumerate() {
        *s *= raised_cosine(i as f64 / n as f64) as f32;
    }
}

/// Fades the last `n` samples out (the last sample becomes exactly zero).
pub fn fade_out(samples: &mut [f32], n: usize) {
    let len = samples.len();
    let n = n.min(len);
    for (i, s) in samples[len - n..].iter_mut().enumerate() {
        // i = n - 1 is the last sample: gain 0.
        *s *= raised_cosine((n - 1 - i) as f64 / n as f64) as f32;
    }
}

/// Fades both edges: `fade_in_samples` at the start, `fade_out_samples` at
/// the end. On a clip too short for both, each fade takes half of it.
pub fn fade_edges(samples: &mut [f32], fade_in_samples: usize, fade_out_samples: usize) {
    let half = samples.len() / 2;
    fade_in(samples, fade_in_samples.min(half.max(1)));
    fade_out(samples, fade_out_samples.min(half.max(1)));
}

/// Fades both ends of a spoken clip by `n` samples, or by half of a clip
/// too short for two fades (a one-sample clip is left alone). The shape is
/// the same raised cosine, but its gain is computed in single precision:
/// that is how speech engines' clips have always been faded, and those
/// clips are kept in the phrase cache, so moving them to the double-precision
/// gain of [`fade_in`] / [`fade_out`] (which differs in the last bit for most
/// samples) would change every cached phrase and every rendered file.
pub fn fade_clip_ends(samples: &mut [f32], n: usize) {
    let len = samples.len();
    let n = n.min(len / 2);
    for i in 0..n {
        let gain = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / n as f32).cos();
        samples[i] *= gain;
        samples[len - 1 - i] *= gain;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fades_reach_exact_zero_and_leave_the_middle_alone() {
        let mut x = vec![1.0f32; 100];
        fade_edges(&mut x, 10, 20);
        assert_eq!(x[0], 0.0);
        assert_eq!(x[99], 0.0);
        assert_eq!(&x[10..80], &[1.0; 70][..]);
        // Monotonic ramps.
        assert!(x[..10].windows(2).all(|w| w[0] < w[1]));
        assert!(x[80..].windows(2).all(|w| w[0] > w[1]));
        // Half way up the 10-sample fade-in the gain is one half.
        assert!((x[5] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn short_clips_share_their_length_between_the_fades() {
        let mut x = vec![1.0f32; 6];
        fade_edges(&mut x, 100, 100);
        assert_eq!(x[0], 0.0);
        assert_eq!(x[5], 0.0);
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        let mut one = vec![1.0f32];
        fade_edges(&mut one, 4, 4);
        assert_eq!(one, vec![0.0]);
        fade_edges(&mut [], 4, 4);
    }

    #[test]
    fn clip_ends_fade_as_a_raised_cosine_in_single_precision() {
        let mut clip = vec![1.0f32; 1000];
        fade_clip_ends(&mut clip, 80);
        assert_eq!((clip[0], clip[999]), (0.0, 0.0));
        assert!((clip[40] - 0.5).abs() < 1e-6);
        assert_eq!(clip[959], clip[40]);
        assert!(clip[..81].windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(&clip[80..920], &[1.0; 840][..]);
        // Within a rounding of the double-precision fade, not equal to it.
        let mut double = vec![1.0f32; 1000];
        fade_edges(&mut double, 80, 80);
        assert!(clip.iter().zip(&double).all(|(a, b)| (a - b).abs() < 1e-6));
        assert_ne!(clip, double);
        // Too short for two fades: half each; one sample: left alone.
        let mut three = [0.5f32; 3];
        fade_clip_ends(&mut three, 80);
        assert_eq!(three, [0.0, 0.5, 0.0]);
        let mut one = [0.5f32];
        fade_clip_ends(&mut one, 80);
        assert_eq!(one, [0.5]);
    }
}
