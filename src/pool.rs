//! The one worker pool: a slice worked on by a few scoped threads, the
//! results handed back in input order, the first error stopping the rest.
//! Publishing, verifying and the import walk all go through it.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};

/// How many threads the machine runs at once (1 when it cannot tell).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A number of workers, and how many items each takes at a time.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    workers: usize,
    batch: usize,
}

/// A batch of results on its way to the calling thread: its number, the
/// results of its items, and the error that stopped it.
type Batch<R, E> = (usize, Vec<R>, Option<E>);

/// What the workers share: the next batch to take, how many batches the
/// calling thread has handed on, and whether to stop.
struct Claims {
    next: usize,
    delivered: usize,
    stop: bool,
}

/// The claims and the condition the workers wait on when too far ahead.
struct Shared {
    claims: Mutex<Claims>,
    moved: Condvar,
}

impl Pool {
    /// `workers` threads (at least one), each taking one item at a time.
    pub fn new(workers: usize) -> Pool {
        Pool {
            workers: workers.max(1),
            batch: 1,
        }
    }

    /// Each worker takes `batch` items at a time (at least one): one
    /// wake-up of the calling thread per batch, not per item.
    pub fn batch(self, batch: usize) -> Pool {
        Pool {
            batch: batch.max(1),
            ..self
        }
    }

    /// `work` on every item, each worker starting from `init()` (a buffer it
    /// reuses); the results in input order, or the first error in input
    /// order, after which no new item is started.
    pub fn map<T, S, R, E>(
        &self,
        items: &[T],
        init: impl Fn() -> S + Sync,
        work: impl Fn(&mut S, &T) -> Result<R, E> + Sync,
    ) -> Result<Vec<R>, E>
    where
        T: Sync,
        R: Send,
        E: Send,
    {
        let mut out = Vec::with_capacity(items.len());
        self.run(items, None, init, work, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// `work` on every item, each result handed to `consume` on the calling
    /// thread in input order. Memory stays bounded: workers wait while
    /// `consume` is behind. The first error, of `work` or of `consume`,
    /// stops the rest and is returned.
    pub fn for_each<T, S, R, E>(
        &self,
        items: &[T],
        init: impl Fn() -> S + Sync,
        work: impl Fn(&mut S, &T) -> Result<R, E> + Sync,
        consume: impl FnMut(R) -> Result<(), E>,
    ) -> Result<(), E>
    where
        T: Sync,
        R: Send,
        E: Send,
    {
        let ahead = 2 * self.workers + 8;
        self.run(items, Some(ahead), init, work, consume)
    }

    /// The workers and the calling thread's reordering: at most `ahead`
    /// batches past the last one handed on are taken, when bounded.
    fn run<T, S, R, E>(
        &self,
        items: &[T],
        ahead: Option<usize>,
        init: impl Fn() -> S + Sync,
        work: impl Fn(&mut S, &T) -> Result<R, E> + Sync,
        consume: impl FnMut(R) -> Result<(), E>,
    ) -> Result<(), E>
    where
        T: Sync,
        R: Send,
        E: Send,
    {
        let batches = items.len().div_ceil(self.batch);
        let shared = Shared {
            claims: Mutex::new(Claims {
                next: 0,
                delivered: 0,
                stop: false,
            }),
            moved: Condvar::new(),
        };
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<Batch<R, E>>();
            for _ in 0..self.workers.min(batches) {
                let tx = tx.clone();
                let (shared, init, work) = (&shared, &init, &work);
                s.spawn(move || {
                    let _stop_on_panic = StopOnPanic(shared);
                    let mut state = init();
                    while let Some(b) = shared.claim(batches, ahead) {
                        let (results, error) = self.work_batch(items, b, &mut state, work);
                        let failed = error.is_some();
                        if tx.send((b, results, error)).is_err() || failed {
                            shared.stop();
                            break;
                        }
                    }
                });
            }
            drop(tx);
            deliver(&shared, rx, consume)
        })
    }

    /// The results of batch `b`'s items, up to the first error.
    fn work_batch<T, S, R, E>(
        &self,
        items: &[T],
        b: usize,
        state: &mut S,
        work: &impl Fn(&mut S, &T) -> Result<R, E>,
    ) -> (Vec<R>, Option<E>) {
        let start = b * self.batch;
        let end = (start + self.batch).min(items.len());
        let mut results = Vec::with_capacity(end - start);
        for item in &items[start..end] {
            match work(state, item) {
                Ok(r) => results.push(r),
                Err(e) => return (results, Some(e)),
            }
        }
        (results, None)
    }
}

/// Hands the batches arriving on `rx` to `consume` in their order, holding
/// back those that arrive early; stops the workers at the first error.
fn deliver<R, E>(
    shared: &Shared,
    rx: mpsc::Receiver<Batch<R, E>>,
    mut consume: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let mut early = BTreeMap::new();
    let mut delivered = 0;
    for (b, results, error) in rx {
        early.insert(b, (results, error));
        while let Some((results, error)) = early.remove(&delivered) {
            let handed = results.into_iter().try_for_each(&mut consume);
            if let Err(e) = handed.and(error.map_or(Ok(()), Err)) {
                shared.stop();
                return Err(e);
            }
            delivered += 1;
            shared.delivered(delivered);
        }
    }
    Ok(())
}

impl Shared {
    /// The claims, even from a worker that panicked holding them.
    fn lock(&self) -> MutexGuard<'_, Claims> {
        self.claims.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next batch to work on, waiting while `ahead` batches are taken
    /// past the last one handed on; `None` when all are taken or stopped.
    fn claim(&self, batches: usize, ahead: Option<usize>) -> Option<usize> {
        let mut c = self.lock();
        while !c.stop && ahead.is_some_and(|a| c.next >= c.delivered + a) {
            c = self.moved.wait(c).unwrap_or_else(|e| e.into_inner());
        }
        if c.stop || c.next >= batches {
            return None;
        }
        c.next += 1;
        Some(c.next - 1)
    }

    /// Records that `n` batches have been handed on, waking waiting workers.
    fn delivered(&self, n: usize) {
        self.lock().delivered = n;
        self.moved.notify_all();
    }

    /// Tells every worker to start nothing more.
    fn stop(&self) {
        self.lock().stop = true;
        self.moved.notify_all();
    }
}

/// Stops the other workers when the one holding it panics, so that none
/// waits for a batch that will never come; the scope then re-raises it.
struct StopOnPanic<'a>(&'a Shared);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn map_keeps_the_input_order() {
        let items: Vec<u64> = (0..1000).collect();
        for workers in [1, 2, 3, 8] {
            for batch in [1, 7, 32] {
                let got = Pool::new(workers)
                    .batch(batch)
                    .map(&items, || (), |_, &i| Ok::<_, ()>(i * 2))
                    .unwrap();
                assert_eq!(got, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn for_each_hands_results_on_in_the_input_order() {
        let items: Vec<usize> = (0..500).collect();
        let mut seen = Vec::new();
        Pool::new(4)
            .batch(3)
            .for_each(
                &items,
                || (),
                |_, &i| Ok::<_, ()>(i),
                |i| {
                    seen.push(i);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(seen, items);
    }

    #[test]
    fn the_first_error_in_input_order_is_returned_and_stops_the_rest() {
        let items: Vec<usize> = (0..10_000).collect();
        let started = AtomicUsize::new(0);
        let err = Pool::new(4)
            .map(
                &items,
                || (),
                |_, &i| {
                    started.fetch_add(1, Ordering::Relaxed);
                    if i == 10 || i == 20 {
                        Err(i)
                    } else {
                        Ok(i)
                    }
                },
            )
            .unwrap_err();
        assert_eq!(err, 10);
        assert!(started.load(Ordering::Relaxed) < items.len());
    }

    #[test]
    fn an_error_of_consume_stops_the_workers() {
        let items: Vec<usize> = (0..10_000).collect();
        let started = AtomicUsize::new(0);
        let mut seen = 0;
        let err = Pool::new(3)
            .for_each(
                &items,
                || (),
                |_, &i| {
                    started.fetch_add(1, Ordering::Relaxed);
                    Ok(i)
                },
                |i| {
                    seen += 1;
                    if i == 5 {
                        Err("stop")
                    } else {
                        Ok(())
                    }
                },
            )
            .unwrap_err();
        assert_eq!((err, seen), ("stop", 6));
        // Bounded: the workers never ran far ahead of what was handed on.
        assert!(started.load(Ordering::Relaxed) <= 6 + 2 * 3 + 8);
    }

    #[test]
    fn one_worker_works_through_everything_with_its_own_state() {
        let items: Vec<usize> = (0..100).collect();
        let inits = AtomicUsize::new(0);
        let got = Pool::new(1)
            .map(
                &items,
                || {
                    inits.fetch_add(1, Ordering::Relaxed);
                    0usize
                },
                |count, &i| {
                    *count += 1;
                    Ok::<_, ()>((i, *count))
                },
            )
            .unwrap();
        assert_eq!(inits.load(Ordering::Relaxed), 1);
        assert_eq!(got, (0..100).map(|i| (i, i + 1)).collect::<Vec<_>>());
    }

    #[test]
    fn zero_workers_means_one() {
        let got = Pool::new(0).map(&[1, 2, 3], || (), |_, &i| Ok::<_, ()>(i));
        assert_eq!(got, Ok(vec![1, 2, 3]));
    }

    #[test]
    fn empty_input_starts_no_worker() {
        let inits = AtomicUsize::new(0);
        let init = || {
            inits.fetch_add(1, Ordering::Relaxed);
        };
        let got = Pool::new(4).map(&[] as &[u8], init, |_, _| Ok::<u8, ()>(0));
        assert_eq!(got, Ok(vec![]));
        let mut calls = 0;
        let done = Pool::new(4).for_each(
            &[] as &[u8],
            init,
            |_, _| Ok::<u8, ()>(0),
            |_| {
                calls += 1;
                Ok(())
            },
        );
        assert_eq!((done, calls), (Ok(()), 0));
        assert_eq!(inits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_panicking_worker_panics_the_caller_instead_of_hanging() {
        let items: Vec<usize> = (0..1000).collect();
        let r = std::panic::catch_unwind(|| {
            Pool::new(3).for_each(
                &items,
                || (),
                |_, &i| {
                    assert_ne!(i, 0, "boom");
                    Ok::<_, ()>(i)
                },
                |_| Ok(()),
            )
        });
        assert!(r.is_err());
    }

    #[test]
    fn threads_is_at_least_one() {
        assert!(threads() >= 1);
    }
}
