//! Overlap groups: cues that sound at the same time (a breath tone under a
//! phrase, a bell under a step's name), mixed and limited as one clip so
//! they never add up past the peak ceiling.

use super::clips::Prepared;
use super::{RenderError, Renderer};
use crate::sound::{limit, samples_in};
use crate::timeline::{Cue, Timeline};

/// Longest overlap group mixed and limited as one clip; a longer chain of
/// overlapping cues (unheard of in a real plan) is left to the soft clipper.
const GROUP_MAX_SECONDS: f64 = 60.0;

/// Indices of the cues that `keep` selects and that last at least a
/// sample, sorted by start.
pub(super) fn cues_where(timeline: &Timeline, keep: impl Fn(&Cue) -> bool) -> Vec<usize> {
    let mut cues: Vec<usize> = (0..timeline.cues.len())
        .filter(|&i| timeline.cues[i].len > 0 && keep(&timeline.cues[i]))
        .collect();
    cues.sort_by_key(|&i| timeline.cues[i].start);
    cues
}

/// Cues that sound at the same time, mixed and limited together.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) start: u64,
    pub(super) end: u64,
    /// Indices into the timeline's cues.
    pub(super) cues: Vec<usize>,
}

impl Group {
    /// A group of the one cue `i`.
    fn of(timeline: &Timeline, i: usize) -> Group {
        let c = &timeline.cues[i];
        Group {
            start: c.start,
            end: c.end(),
            cues: vec![i],
        }
    }
}

/// The sounding cues in overlap groups, sorted by start.
pub(super) struct Groups {
    pub(super) groups: Vec<Group>,
    /// The longest group, which bounds how far back an overlapping one can
    /// start.
    longest: u64,
}

impl Groups {
    /// Joins the sounding cues of both lanes into groups of cues that
    /// overlap (directly or through one another). Cues that merely touch
    /// (one ends where the next starts) stay apart. A group too long to
    /// hold goes back to single cues.
    pub(super) fn new(timeline: &Timeline, lanes: [&[usize]; 2], rate: u32) -> Self {
        let most = samples_in(GROUP_MAX_SECONDS, rate) as u64;
        let groups: Vec<Group> = join_overlapping(timeline, lanes)
            .into_iter()
            .flat_map(|g| {
                if g.end - g.start <= most {
                    vec![g]
                } else {
                    g.cues.iter().map(|&i| Group::of(timeline, i)).collect()
                }
            })
            .collect();
        let longest = groups.iter().map(|g| g.end - g.start).max().unwrap_or(0);
        Groups { groups, longest }
    }

    /// Indices of the groups overlapping `start .. end`.
    pub(super) fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = usize> + '_ {
        let earliest = start.saturating_sub(self.longest);
        let first = self.groups.partition_point(|g| g.start < earliest);
        (first..self.groups.len())
            .take_while(move |&k| self.groups[k].start < end)
            .filter(move |&k| self.groups[k].end > start)
    }

    /// Whether two of `groups` (indices, by start) overlap: only the pieces
    /// of a group too long to hold can.
    pub(super) fn any_overlap(&self, groups: &[usize]) -> bool {
        groups.windows(2).any(|w| {
            let (a, b) = (&self.groups[w[0]], &self.groups[w[1]]);
            b.start < a.end
        })
    }
}

/// The cues of both lanes in groups of cues that overlap, by start.
fn join_overlapping(timeline: &Timeline, lanes: [&[usize]; 2]) -> Vec<Group> {
    let mut cues: Vec<usize> = lanes.concat();
    cues.sort_by_key(|&i| (timeline.cues[i].start, i));
    let mut groups: Vec<Group> = Vec::new();
    for i in cues {
        let c = &timeline.cues[i];
        match groups.last_mut() {
            Some(g) if c.start < g.end => {
                g.end = g.end.max(c.end());
                g.cues.push(i);
            }
            _ => groups.push(Group::of(timeline, i)),
        }
    }
    groups
}

impl Renderer<'_> {
    /// The mix of group `k`'s members (each from `clip`), limited, with
    /// trailing silence cut: past a clip's end it adds nothing.
    pub(super) fn mix_group(
        &self,
        k: usize,
        mut clip: impl FnMut(usize) -> Result<Prepared, RenderError>,
    ) -> Result<Vec<f32>, RenderError> {
        let group = &self.groups.groups[k];
        let mut mix = match group.cues.as_slice() {
            [one] => clip(*one)?.to_vec(),
            cues => {
                let mut mix = vec![0.0f32; (group.end - group.start) as usize];
                for &i in cues {
                    let at = (self.timeline.cues[i].start - group.start) as usize;
                    for (m, c) in mix[at..].iter_mut().zip(clip(i)?.iter()) {
                        *m += c;
                    }
                }
                limit::limit(&mut mix, self.gains.source_ceiling, self.timeline.rate);
                mix
            }
        };
        let end = mix
            .iter()
            .rposition(|&v| v != 0.0)
            .map_or(0, |last| last + 1);
        mix.truncate(end);
        mix.shrink_to_fit();
        Ok(mix)
    }
}
