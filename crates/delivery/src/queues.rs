//! The scheduler's memory: jobs leased and waiting per destination, the connections open
//! per destination and in total (the limits), the workers idle on an open connection
//! waiting for their destination's next job (a connection cache, as Postfix's), and the
//! recipients in flight (leased by this process and not yet recorded), so that a
//! recipient is never handed out twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::outcome::Job;
use crate::routing::Destination;

/// Bodies kept in memory with waiting jobs, at most; beyond it a job's body is dropped
/// and read from the store when it is sent.
const BODY_BUDGET: usize = 64 << 20;

fn body_len(job: &Job) -> usize {
    job.body.as_ref().map_or(0, |b| b.len())
}

/// Waiting jobs and open connections of one destination.
struct Lane {
    destination: Destination,
    jobs: VecDeque<Job>,
    /// Workers of this destination, idle ones included (each holds a connection slot).
    workers: usize,
    /// Workers waiting on an open connection for this destination's next job.
    idle: usize,
    /// Idle workers asked to end, to give their connection slot to another destination.
    evict: usize,
    /// A permit per job pushed for an idle worker to take (closed when stopping).
    ready: Arc<Semaphore>,
}

/// What a worker gets when it asks for its destination's next job.
pub enum Next {
    Job(Job),
    /// No job now: the worker is counted idle until [`Queues::leave_idle`]; a permit of
    /// this semaphore comes with each job pushed meanwhile.
    Idle(Arc<Semaphore>),
    /// No job, and the worker is not to wait (stopping, or it asked not to).
    Done,
}

/// What an idle worker finds when it wakes.
pub enum Woken {
    Job(Job),
    /// Its slot is wanted by another destination: end now.
    Evicted,
    /// Nothing for it (yet): wait on, if its time is not up.
    Nothing,
}

impl Inner {
    /// At the total limit, with a destination waiting for a connection it may still
    /// open: one idle worker of a destination with nothing waiting is asked to end, so
    /// that its slot goes to the one waiting (the scheduler starts it when told that the
    /// worker ended).
    fn evict_for_others(&mut self, per_destination: usize) {
        let starved = self
            .lanes
            .values()
            .any(|l| l.jobs.len() > l.idle && l.workers < per_destination);
        if !starved {
            return;
        }
        if let Some(lane) = self
            .lanes
            .values_mut()
            .find(|l| l.jobs.is_empty() && l.idle > l.evict)
        {
            lane.evict += 1;
            lane.ready.add_permits(1);
        }
    }

    fn pop(&mut self, key: &str) -> Option<Job> {
        let job = self.lanes.get_mut(key)?.jobs.pop_front()?;
        self.waiting -= 1;
        self.body_bytes -= body_len(&job);
        Some(job)
    }
}

#[derive(Default)]
struct Inner {
    lanes: HashMap<String, Lane>,
    /// Round-robin order of destinations for free connection slots.
    order: VecDeque<String>,
    workers: usize,
    waiting: usize,
    in_flight: HashSet<i64>,
    stopping: bool,
    /// Bytes of the bodies held by waiting jobs.
    body_bytes: usize,
}

/// Shared by the scheduler and its workers.
#[derive(Default)]
pub struct Queues {
    inner: Mutex<Inner>,
}

impl Queues {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes recipients into flight; returns those not already there (in order).
    pub fn claim(&self, ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
        let mut q = self.lock();
        ids.into_iter()
            .filter(|id| q.in_flight.insert(*id))
            .collect()
    }

    /// Recipients whose outcome is recorded (or given up on) leave flight.
    pub fn release(&self, ids: impl IntoIterator<Item = i64>) {
        let mut q = self.lock();
        for id in ids {
            q.in_flight.remove(&id);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// Jobs leased and waiting for a connection.
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    pub fn push(&self, destination: Destination, mut job: Job) {
        let mut q = self.lock();
        if q.body_bytes + body_len(&job) > BODY_BUDGET {
            job.body = None;
        }
        q.body_bytes += body_len(&job);
        let key = destination.key();
        if !q.lanes.contains_key(&key) {
            q.order.push_back(key.clone());
        }
        let lane = q.lanes.entry(key).or_insert_with(|| Lane {
            destination,
            jobs: VecDeque::new(),
            workers: 0,
            idle: 0,
            evict: 0,
            ready: Arc::new(Semaphore::new(0)),
        });
        lane.jobs.push_back(job);
        // an idle worker takes it on its open connection (no more permits than idle
        // workers: one left over would only wake a worker for nothing)
        if lane.idle > lane.ready.available_permits() {
            lane.ready.add_permits(1);
        }
        q.waiting += 1;
    }

    /// The next job of a destination; with none waiting, the worker is counted idle
    /// (`linger`) or told it is done.
    pub fn next_or_idle(&self, key: &str, linger: bool) -> Next {
        let mut q = self.lock();
        if q.stopping {
            return Next::Done;
        }
        if let Some(job) = q.pop(key) {
            return Next::Job(job);
        }
        match q.lanes.get_mut(key) {
            Some(lane) if linger => {
                lane.idle += 1;
                Next::Idle(lane.ready.clone())
            }
            _ => Next::Done,
        }
    }

    /// An idle worker wakes (a job came, its time is up, its slot is wanted, or the
    /// scheduler stops): it is no longer idle; what it is to do.
    pub fn leave_idle(&self, key: &str) -> Woken {
        let mut q = self.lock();
        let stopping = q.stopping;
        let job = if stopping { None } else { q.pop(key) };
        let evicted = match q.lanes.get_mut(key) {
            Some(lane) => {
                lane.idle = lane.idle.saturating_sub(1);
                let evicted = job.is_none() && !stopping && lane.evict > 0;
                if evicted {
                    lane.evict -= 1;
                }
                // asks to end never outnumber the idle workers left to answer them
                lane.evict = lane.evict.min(lane.idle);
                evicted
            }
            None => false,
        };
        match job {
            Some(job) => Woken::Job(job),
            None if evicted => Woken::Evicted,
            None => Woken::Nothing,
        }
    }

    /// The next job of a destination, for a worker that has a connection (or is about to
    /// open one); `None` when there is none, or when the scheduler is stopping.
    pub fn next(&self, key: &str) -> Option<Job> {
        let mut q = self.lock();
        if q.stopping {
            return None;
        }
        q.pop(key)
    }

    /// Every job still waiting for a destination (a destination that cannot be reached:
    /// they all share its fate).
    pub fn drain(&self, key: &str) -> Vec<Job> {
        let mut q = self.lock();
        let jobs: Vec<Job> = match q.lanes.get_mut(key) {
            Some(lane) => lane.jobs.drain(..).collect(),
            None => Vec::new(),
        };
        q.waiting -= jobs.len();
        q.body_bytes -= jobs.iter().map(body_len).sum::<usize>();
        jobs
    }

    /// New workers to start, within the limits: (destination, how many), taking the
    /// connection slots now.
    pub fn start_workers(&self, max_total: usize, per_destination: usize) -> Vec<Destination> {
        let mut q = self.lock();
        let mut out = Vec::new();
        if q.stopping {
            return out;
        }
        let rounds = q.order.len();
        for _ in 0..rounds {
            if q.workers >= max_total {
                break;
            }
            let Some(key) = q.order.pop_front() else {
                break;
            };
            let total = q.workers;
            let Some(lane) = q.lanes.get_mut(&key) else {
                continue;
            };
            // jobs an idle worker will take need no new connection
            let want = lane
                .jobs
                .len()
                .saturating_sub(lane.idle)
                .min(per_destination.saturating_sub(lane.workers));
            let take = want.min(max_total - total);
            lane.workers += take;
            let destination = lane.destination.clone();
            let idle = lane.jobs.is_empty() && lane.workers == 0;
            q.workers += take;
            for _ in 0..take {
                out.push(destination.clone());
            }
            if idle {
                q.lanes.remove(&key);
            } else {
                q.order.push_back(key);
            }
        }
        if q.workers >= max_total {
            q.evict_for_others(per_destination);
        }
        out
    }

    /// A worker of this destination has ended.
    pub fn worker_done(&self, key: &str) {
        let mut q = self.lock();
        q.workers = q.workers.saturating_sub(1);
        let remove = match q.lanes.get_mut(key) {
            Some(lane) => {
                lane.workers = lane.workers.saturating_sub(1);
                lane.jobs.is_empty() && lane.workers == 0
            }
            None => false,
        };
        if remove {
            q.lanes.remove(key);
            q.order.retain(|k| k != key);
        }
    }

    pub fn workers(&self) -> usize {
        self.lock().workers
    }

    /// Stops handing out jobs; returns those that never started.
    pub fn stop(&self) -> Vec<Job> {
        let mut q = self.lock();
        q.stopping = true;
        let mut jobs = Vec::new();
        for lane in q.lanes.values_mut() {
            jobs.extend(lane.jobs.drain(..));
            // idle workers end now, not when their time is up
            lane.ready.close();
        }
        q.waiting = 0;
        q.body_bytes = 0;
        jobs
    }
}
