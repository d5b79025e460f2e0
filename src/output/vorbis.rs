//! Vorbis comments, the tags of FLAC and Ogg Opus files: the session's
//! title, artist, album, comment, lyrics and one `CHAPTERnnn` /
//! `CHAPTERnnnNAME` pair per step (the chapter extension ffmpeg, VLC,
//! foobar2000 and podcast players read), and their binary form.

use super::encode::{ENCODER_NAME, Metadata, StreamSpec};

/// The comments for a session, in the order they are written: `TITLE`,
/// `ARTIST` (the credit), `ALBUM`, `COMMENT` (the description), `ENCODER`,
/// `LYRICS` (one phrase a line), then a chapter per step that starts
/// inside the audio, numbered from 001, its time as `HH:MM:SS.mmm`.
pub fn comments(spec: &StreamSpec, metadata: &Metadata) -> Vec<(String, String)> {
    let mut c = vec![("TITLE".to_string(), metadata.title.clone())];
    if let Some(artist) = &metadata.artist {
        c.push(("ARTIST".into(), artist.clone()));
    }
    c.push(("ALBUM".into(), metadata.album.clone()));
    if let Some(comment) = &metadata.comment {
        c.push(("COMMENT".into(), comment.clone()));
    }
    c.push(("ENCODER".into(), ENCODER_NAME.into()));
    if !metadata.lyrics.is_empty() {
        let lines: Vec<&str> = metadata.lyrics.iter().map(|l| l.text.as_str()).collect();
        c.push(("LYRICS".into(), lines.join("\n")));
    }
    let chapters = metadata
        .chapters
        .iter()
        .filter(|ch| ch.start_frame < spec.total_frames);
    for (i, chapter) in chapters.enumerate() {
        let key = format!("CHAPTER{:03}", i + 1);
        c.push((key.clone(), time(chapter.start_frame, spec.rate)));
        c.push((format!("{key}NAME"), chapter.title.clone()));
    }
    c
}

/// `HH:MM:SS.mmm`, rounded to the nearest millisecond.
fn time(frame: u64, rate: u32) -> String {
    let ms = (u128::from(frame) * 1000 + u128::from(rate) / 2) / u128::from(rate);
    let (s, ms) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600, s / 60 % 60, s % 60)
}

/// The comment block's bytes: vendor string, count, then each comment as
/// `KEY=value`, every length a 32-bit little-endian number (the same in a
/// FLAC `VORBIS_COMMENT` block and after `OpusTags`).
pub fn block(comments: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::new();
    let put = |b: &mut Vec<u8>, s: &[u8]| {
        // A tag over 4 GiB is not a session's.
        b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        b.extend_from_slice(s);
    };
    put(&mut b, ENCODER_NAME.as_bytes());
    b.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (key, value) in comments {
        put(&mut b, format!("{key}={value}").as_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::encode::{Chapter, Lyric};

    #[test]
    fn comments_carry_tags_lyrics_and_chapters() {
        let m = Metadata {
            title: "Flow".into(),
            artist: Some("A teacher".into()),
            album: "vinyasa".into(),
            comment: None,
            chapters: vec![
                Chapter {
                    start_frame: 0,
                    end_frame: 44_100,
                    title: "One".into(),
                },
                Chapter {
                    start_frame: 44_100 * 3_725 + 22_050,
                    end_frame: 44_100 * 3_800,
                    title: "Two".into(),
                },
                Chapter {
                    start_frame: 44_100 * 3_800,
                    end_frame: 44_100 * 3_900,
                    title: "past the end".into(),
                },
            ],
            lyrics: vec![
                Lyric {
                    start_frame: 0,
                    end_frame: 1,
                    text: "In.".into(),
                },
                Lyric {
                    start_frame: 2,
                    end_frame: 3,
                    text: "Out.".into(),
                },
            ],
        };
        let spec = StreamSpec {
            rate: 44_100,
            channels: 1,
            total_frames: 44_100 * 3_800,
        };
        let got: Vec<String> = comments(&spec, &m)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            got,
            [
                "TITLE=Flow",
                "ARTIST=A teacher",
                "ALBUM=vinyasa",
                "ENCODER=vinyasa",
                "LYRICS=In.\nOut.",
                "CHAPTER001=00:00:00.000",
                "CHAPTER001NAME=One",
                "CHAPTER002=01:02:05.500",
                "CHAPTER002NAME=Two",
            ]
        );
        let b = block(&[("A".into(), "b".into())]);
        assert_eq!(b, b"\x07\0\0\0vinyasa\x01\0\0\0\x03\0\0\0A=b");
    }
}
