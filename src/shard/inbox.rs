//! A thread's inbox: the queue other threads post [`Mail`] to, and the rule that makes a post
//! to a busy thread cost no wake-up syscall.
//!
//! Waking a task of another thread's runtime always writes that runtime's eventfd, asleep or
//! not. So a thread marks itself busy while it polls one of its serving tasks (see [`busy`]), and
//! a sender wakes the inbox's task only when the thread is not. A busy thread finds the mail
//! itself: every busy poll ends by looking for mail that arrived without a wake-up, and wakes
//! the inbox's task locally (a push to its own run queue). The two sides order themselves like
//! Dekker's: a sender raises `pending` then reads `busy`; the owner lowers `busy` then reads
//! `pending`; with sequentially consistent accesses at least one of them sees the other, so mail
//! is never left unread while the thread sleeps.
//! Depends on `mailbox` for `Mail` only; no runtime beyond `std::task`.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use super::mailbox::Mail;

/// One thread's inbox.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<Queue>,
    /// Mail is queued that the owner has not taken yet.
    pending: AtomicBool,
    /// The owner is inside a busy poll and will look for mail when it ends.
    busy: AtomicBool,
    /// The owner's mail counts.
    pub traffic: Traffic,
}

/// How much mail the thread owning an inbox sent and received. Only that thread writes them
/// (relaxed, once per message, not per command); a line of their own keeps senders' writes to
/// the queue from sharing it.
#[derive(Default)]
#[repr(align(128))]
pub struct Traffic {
    /// Messages this thread sent to other threads (one per destination per tick).
    pub sent: AtomicU64,
    /// Messages this thread took from its inbox.
    pub received: AtomicU64,
    /// Jobs from other threads this thread ran on its shard.
    pub jobs_run: AtomicU64,
}

impl Traffic {
    /// Adds `n` to one of the owner's counters (one writer: no read-modify-write race).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Queue {
    mail: Vec<Mail>,
    /// The serving task, while it waits for mail.
    waiter: Option<Waker>,
}

/// Every thread's inbox, by shard id, shared by all threads.
pub type Inboxes = Arc<Vec<Inbox>>;

/// Inboxes for `threads` threads.
pub fn inboxes(threads: usize) -> Inboxes {
    Arc::new((0..threads).map(|_| Inbox::default()).collect())
}

impl Inbox {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `mail`; wakes the serving task only when its thread is not busy.
    pub fn send(&self, mail: Mail) {
        let waiter = {
            let mut queue = self.queue();
            queue.mail.push(mail);
            self.pending.store(true, Ordering::SeqCst);
            if self.busy.load(Ordering::SeqCst) {
                None
            } else {
                queue.waiter.take()
            }
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// Waits for mail and moves it to the end of `into` (when `into` is empty, by swapping the
    /// vectors, so their allocations are reused).
    pub fn recv<'a>(&'a self, into: &'a mut Vec<Mail>) -> impl Future<Output = ()> + 'a {
        std::future::poll_fn(move |cx| {
            let mut queue = self.queue();
            if queue.mail.is_empty() {
                if !queue
                    .waiter
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    queue.waiter = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            self.pending.store(false, Ordering::SeqCst);
            if into.is_empty() {
                std::mem::swap(&mut queue.mail, into);
            } else {
                into.append(&mut queue.mail);
            }
            Poll::Ready(())
        })
    }

    /// Ends a busy poll on the owning thread: after this, senders wake the serving task again,
    /// and mail that came without a wake-up gets one now (a local one).
    fn leave_busy(&self) {
        self.busy.store(false, Ordering::SeqCst);
        if self.pending.load(Ordering::SeqCst) {
            let waiter = self.queue().waiter.take();
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        }
    }
}

thread_local! {
    /// This thread's own inbox, once it serves one.
    static OWN: OnceCell<(Inboxes, usize)> = const { OnceCell::new() };
}

/// Makes `inboxes[id]` this thread's inbox, for [`busy`]. Called by the thread serving it; a
/// thread serves one inbox for its life, so a later call changes nothing.
pub fn adopt(inboxes: Inboxes, id: usize) {
    OWN.with(|own| {
        let _ = own.set((inboxes, id));
    });
}

/// `future`, with this thread marked busy while it is polled: mail posted meanwhile costs its
/// sender no wake-up, and is picked up when the poll ends. Wrap the tasks that serve clients
/// and the inbox; any task may stay unwrapped (its polls just don't save wake-ups).
pub fn busy<F: Future>(future: F) -> Busy<F> {
    Busy { future }
}

/// See [`busy`].
pub struct Busy<F> {
    future: F,
}

impl<F: Future> Future for Busy<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out of `self`, and `Busy`
        // has no Drop or Unpin impl of its own that would move it.
        let future = unsafe { self.map_unchecked_mut(|b| &mut b.future) };
        OWN.with(|own| {
            let Some((inboxes, id)) = own.get() else {
                return future.poll(cx);
            };
            let inbox = &inboxes[*id];
            inbox.busy.store(true, Ordering::Relaxed);
            let result = future.poll(cx);
            inbox.leave_busy();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_waker::waker;
    use std::sync::atomic::AtomicUsize;

    fn poll_recv(inbox: &Inbox, waker: &Waker, into: &mut Vec<Mail>) -> bool {
        let mut cx = Context::from_waker(waker);
        let mut recv = std::pin::pin!(inbox.recv(into));
        recv.as_mut().poll(&mut cx).is_ready()
    }

    #[test]
    fn a_busy_thread_is_not_woken_and_finds_its_mail_when_the_poll_ends() {
        let inboxes = inboxes(1);
        let inbox = &inboxes[0];
        let (count, waker) = waker();
        let mut into = Vec::new();
        assert!(!poll_recv(inbox, &waker, &mut into));

        // Idle: a send wakes the waiting task.
        inbox.send(Mail::Completions(Vec::new()));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll_recv(inbox, &waker, &mut into));
        assert_eq!(into.len(), 1);
        into.clear();
        assert!(!poll_recv(inbox, &waker, &mut into));

        // Busy: sends wake nobody until the busy poll ends, which wakes once.
        inbox.busy.store(true, Ordering::Relaxed);
        inbox.send(Mail::Completions(Vec::new()));
        inbox.send(Mail::Jobs(Vec::new()));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        inbox.leave_busy();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        inbox.leave_busy();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(poll_recv(inbox, &waker, &mut into));
        assert_eq!(into.len(), 2);

        // Drained: ending a busy poll wakes nobody.
        into.clear();
        assert!(!poll_recv(inbox, &waker, &mut into));
        inbox.busy.store(true, Ordering::Relaxed);
        inbox.leave_busy();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn mail_received_into_a_non_empty_vector_goes_after_what_it_holds() {
        let inboxes = inboxes(1);
        let (_, waker) = waker();
        let mut into = vec![Mail::Jobs(Vec::new())];
        inboxes[0].send(Mail::Completions(Vec::new()));
        assert!(poll_recv(&inboxes[0], &waker, &mut into));
        assert!(matches!(
            into.as_slice(),
            [Mail::Jobs(_), Mail::Completions(_)]
        ));
    }

    #[test]
    fn busy_marks_only_the_adopted_inbox_and_only_during_the_poll() {
        let inboxes = inboxes(2);
        adopt(inboxes.clone(), 1);
        let seen = Arc::new(AtomicUsize::new(0));
        let watched = inboxes.clone();
        let probe = busy(std::future::poll_fn(|_| {
            assert!(watched[1].busy.load(Ordering::SeqCst));
            assert!(!watched[0].busy.load(Ordering::SeqCst));
            seen.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(())
        }));
        let (_, waker) = waker();
        let mut probe = std::pin::pin!(probe);
        assert!(probe
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready());
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert!(!inboxes[1].busy.load(Ordering::SeqCst));
    }
}
