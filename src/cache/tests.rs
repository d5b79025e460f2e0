//! The cache directory's files: layout, pruning, formats.

use super::file::checksum64;
use super::*;

/// A cache file of `bytes` bytes last used `age` ago.
fn aged(path: &Path, bytes: usize, age: std::time::Duration) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, vec![0u8; bytes]).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[test]
fn prune_removes_the_clips_used_longest_ago_prepared_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
    let name = |c: char, ext: &str| format!("{}{ext}", c.to_string().repeat(64));
    let prepared = d.join(PREPARED_DIR);
    // Phrases (old), prepared clips of several ages, leftovers, others.
    aged(&d.join(name('a', ".clip")), 100, hours(50));
    aged(&d.join(name('b', ".clip")), 100, hours(40));
    aged(&prepared.join(name('c', ".prep")), 300, hours(30));
    aged(&prepared.join(name('d', ".prep")), 300, hours(1));
    aged(&prepared.join(name('e', ".prep")), 300, hours(20));
    aged(&d.join(".tmpOLD"), 50, hours(3));
    aged(&prepared.join(".tmpNEW"), 50, hours(0));
    aged(&d.join("notes.txt"), 5000, hours(99));

    // Within the limit: only the old leftover goes.
    let removed = prune(d, 2000).unwrap();
    assert_eq!(
        removed.leftovers,
        FileCount {
            files: 1,
            bytes: 50
        }
    );
    assert_eq!(removed.total().files, 1);
    assert!(!d.join(".tmpOLD").exists());

    // 1150 bytes against a limit of 1000: down to 900, the prepared
    // clip used longest ago first (c), the phrases kept though older.
    let removed = prune(d, 1000).unwrap();
    assert_eq!(
        removed.prepared,
        FileCount {
            files: 1,
            bytes: 300
        }
    );
    assert_eq!(removed.phrases, FileCount::default());
    assert!(!prepared.join(name('c', ".prep")).exists());
    assert!(prepared.join(name('d', ".prep")).exists());
    assert!(prepared.join(name('e', ".prep")).exists());
    // Then every prepared clip (e before d), then the phrases, oldest
    // first; a fresh leftover and other people's files stay.
    let removed = prune(d, 500).unwrap();
    assert_eq!(
        removed.prepared,
        FileCount {
            files: 2,
            bytes: 600
        }
    );
    assert_eq!(removed.phrases, FileCount::default());
    let removed = prune(d, 120).unwrap();
    assert_eq!(
        removed.phrases,
        FileCount {
            files: 2,
            bytes: 200
        }
    );
    assert!(prepared.join(".tmpNEW").exists());
    assert!(d.join("notes.txt").exists());
    assert_eq!(prune(&d.join("absent"), 0).unwrap(), Usage::default());
}

#[test]
fn reading_a_clip_marks_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let store = PreparedDir::in_cache(dir.path());
    store.save("k", &[0.25, -0.5]);
    let path = dir.path().join("prepared").join("k.prep");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.load("k"), Some(vec![0.25, -0.5]));
    let used = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert!(used > old + std::time::Duration::from_secs(3600));
}

#[test]
fn prepared_clips_round_trip_and_damage_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = PreparedDir::in_cache(dir.path());
    assert_eq!(store.load("k"), None);
    let samples: Vec<f32> = [-0.0, 1e-42, -1.0, 1.0, 0.25]
        .into_iter()
        .chain((0..1000).map(|i| (i as f32 * 0.01).sin()))
        .collect();
    store.save("k", &samples);
    let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&store.load("k").unwrap()), bits(&samples));
    // Header, 4 bytes a sample, checksum.
    let path = dir.path().join("prepared").join("k.prep");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 28 + 4 * samples.len() + 8);
    store.save("empty", &[]);
    assert_eq!(store.load("empty"), Some(vec![]));

    for at in [0, 9, 13, 25, 2000, bytes.len() - 1] {
        for bit in [0, 3, 7] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << bit;
            std::fs::write(&path, &flipped).unwrap();
            assert_eq!(store.load("k"), None, "byte {at}, bit {bit}");
        }
    }
    for cut in [0, 7, 20, 27, bytes.len() - 8, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_eq!(store.load("k"), None, "cut at {cut}");
    }
    // A phrase-cache file under the name is not a prepared clip.
    std::fs::write(&path, phrases::encode(0, 1, &samples)).unwrap();
    assert_eq!(store.load("k"), None);
}

#[test]
fn the_checksum_sees_every_byte_and_the_length() {
    let base: Vec<u8> = (0..100u8).collect();
    let sum = checksum64(&base);
    for at in 0..base.len() {
        let mut changed = base.clone();
        changed[at] ^= 0x10;
        assert_ne!(checksum64(&changed), sum, "byte {at}");
    }
    for len in 0..base.len() {
        assert_ne!(checksum64(&base[..len]), sum, "length {len}");
    }
    let zeros = [0u8; 64];
    assert_ne!(checksum64(&zeros[..32]), checksum64(&zeros[..33]));
    assert_ne!(checksum64(&zeros[..8]), checksum64(&zeros[..16]));
}

#[test]
fn a_file_under_another_key_or_not_a_file_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = PreparedDir::in_cache(dir.path());
    store.save("k1", &[0.5]);
    store.save("k2", &[-0.5]);
    let prepared = dir.path().join(PREPARED_DIR);
    std::fs::copy(prepared.join("k1.prep"), prepared.join("k2.prep")).unwrap();
    assert_eq!(store.load("k1"), Some(vec![0.5]));
    assert_eq!(store.load("k2"), None);

    let phrases = Phrases::new(dir.path());
    let (a, b) = (phrases.path_for("v", "a"), phrases.path_for("v", "b"));
    phrases.write(&a, 16_000, &[0.25]).unwrap();
    phrases.write(&b, 16_000, &[0.75]).unwrap();
    assert_eq!(Phrases::read(&a), Some((16_000, vec![0.25])));
    std::fs::copy(&a, &b).unwrap();
    assert_eq!(Phrases::read(&b), None);
    assert_eq!(Phrases::read_length(&b), None);

    // A FIFO would block the read; a directory is no clip either.
    std::fs::remove_file(&b).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&b).status();
    if made.is_ok_and(|s| s.success()) {
        assert_eq!(Phrases::read(&b), None);
        assert_eq!(Phrases::read_length(&b), None);
    }
    std::fs::create_dir(prepared.join("k3.prep")).unwrap();
    assert_eq!(store.load("k3"), None);
}
