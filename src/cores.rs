//! Work spread over the machine's cores: one queue of numbered pieces,
//! taken in order by a thread per core.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls `work(i)` for every `i` in `0..count` on up to one thread per core
/// (at most 8), each taking the next piece when it is done with one, so
/// pieces of uneven size still keep every core busy. The first error stops
/// the others at their next piece and is returned; a panic in `work` is
/// resumed here.
pub(crate) fn each<E: Send>(
    count: usize,
    work: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(count.max(1));
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        work(i).inspect_err(|_| next.store(count, Ordering::Relaxed))?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_piece_once() {
        let seen = Mutex::new(Vec::new());
        each::<()>(100, |i| {
            seen.lock().unwrap().push(i);
            Ok(())
        })
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_eq!(each::<()>(0, |_| unreachable!()), Ok(()));
    }

    #[test]
    fn an_error_stops_the_work_and_is_returned() {
        let done = AtomicUsize::new(0);
        let result = each(1000, |i| {
            done.fetch_add(1, Ordering::Relaxed);
            if i == 3 { Err(i) } else { Ok(()) }
        });
        assert_eq!(result, Err(3));
        // Pieces already taken finish; no new ones start.
        assert!(done.load(Ordering::Relaxed) < 1000);
    }
}
