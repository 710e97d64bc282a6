//! A queue between two tasks of the same thread: a connection's reader and its executor, or a
//! subscriber's deliveries and its connection. Both ends run on one thread, so it needs no
//! atomics, no semaphore and no locking, only the two tasks' wakers. Bounded for the reader
//! (`send` waits while `capacity` inputs are queued: backpressure on a client that pipelines
//! faster than its commands run); `push` queues past the bound, for a producer that must not
//! wait and limits the queue itself. Either side seeing the other gone ends the flow.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct Shared<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The executor, waiting for an input.
    receiver: Option<Waker>,
    /// The reader, waiting for room.
    sender: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// The producer's end.
pub struct Sender<T>(Rc<RefCell<Shared<T>>>);

/// The consumer's end.
pub struct Receiver<T>(Rc<RefCell<Shared<T>>>);

/// A queue holding at most `capacity` (at least 1) items.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(RefCell::new(Shared {
        items: VecDeque::with_capacity(capacity.clamp(1, 16)),
        capacity: capacity.max(1),
        receiver: None,
        sender: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (Sender(shared.clone()), Receiver(shared))
}

/// A queue fed only through [`Sender::push`] (no bound of its own).
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(usize::MAX)
}

/// Stores `waker` in `slot` unless the same task's waker is already there.
fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl<T> Sender<T> {
    /// Queues `item` once there is room; gives it back when the executor is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        let mut item = Some(item);
        poll_fn(|cx| {
            let mut shared = self.0.borrow_mut();
            if shared.receiver_gone {
                return Poll::Ready(Err(item.take().expect("polled after completion")));
            }
            if shared.items.len() < shared.capacity {
                shared
                    .items
                    .push_back(item.take().expect("polled after completion"));
                if let Some(waker) = shared.receiver.take() {
                    waker.wake();
                }
                return Poll::Ready(Ok(()));
            }
            register(&mut shared.sender, cx.waker());
            Poll::Pending
        })
        .await
    }
}

impl<T> Sender<T> {
    /// Queues `item` now, whatever the bound (the caller limits the queue); gives it back when
    /// the consumer is gone.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut shared = self.0.borrow_mut();
        if shared.receiver_gone {
            return Err(item);
        }
        shared.items.push_back(item);
        let waker = shared.receiver.take();
        drop(shared);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// An item already queued, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut shared = self.0.borrow_mut();
        let item = shared.items.pop_front()?;
        let waker = shared.sender.take();
        drop(shared);
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(item)
    }

    /// The next input; None once the queue is empty and the reader is gone. Cancel-safe: an
    /// item is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut shared = self.0.borrow_mut();
            if let Some(item) = shared.items.pop_front() {
                if let Some(waker) = shared.sender.take() {
                    waker.wake();
                }
                return Poll::Ready(Some(item));
            }
            if shared.sender_gone {
                return Poll::Ready(None);
            }
            register(&mut shared.receiver, cx.waker());
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut shared = self.0.borrow_mut();
        shared.sender_gone = true;
        if let Some(waker) = shared.receiver.take() {
            waker.wake();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (items, waker) = {
            let mut shared = self.0.borrow_mut();
            shared.receiver_gone = true;
            (std::mem::take(&mut shared.items), shared.sender.take())
        };
        // Dropped outside the borrow: an item's drop may wake a task.
        drop(items);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_waker::waker;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::Ordering;
    use std::task::Context;

    fn poll<F: Future>(future: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn items_arrive_in_order_and_the_reader_waits_for_room() {
        let (tx, mut rx) = channel::<u32>(2);
        let (_, w) = waker();
        assert_eq!(poll(pin!(tx.send(1)), &w), Poll::Ready(Ok(())));
        assert_eq!(poll(pin!(tx.send(2)), &w), Poll::Ready(Ok(())));
        // Full: the third waits, and is woken when the executor takes one.
        let (sender_wakes, sw) = waker();
        let mut third = pin!(tx.send(3));
        assert_eq!(poll(third.as_mut(), &sw), Poll::Pending);
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(Some(1)));
        assert_eq!(sender_wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(third.as_mut(), &sw), Poll::Ready(Ok(())));
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(Some(2)));
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(Some(3)));
    }

    #[test]
    fn push_queues_past_the_bound_wakes_the_consumer_and_fails_once_it_is_gone() {
        let (tx, mut rx) = unbounded::<u32>();
        let (wakes, w) = waker();
        assert_eq!(rx.try_recv(), None);
        {
            let mut next = pin!(rx.recv());
            assert_eq!(poll(next.as_mut(), &w), Poll::Pending);
            for n in 0..5 {
                assert_eq!(tx.push(n), Ok(()));
            }
            assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
            assert_eq!(poll(next.as_mut(), &w), Poll::Ready(Some(0)));
        }
        assert_eq!(
            std::iter::from_fn(|| rx.try_recv()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        drop(rx);
        assert_eq!(tx.push(9), Err(9));
    }

    #[test]
    fn a_waiting_executor_is_woken_by_an_item_and_by_the_reader_leaving() {
        let (tx, mut rx) = channel::<u32>(4);
        let (wakes, w) = waker();
        {
            let mut next = pin!(rx.recv());
            assert_eq!(poll(next.as_mut(), &w), Poll::Pending);
            assert_eq!(poll(pin!(tx.send(7)), &w), Poll::Ready(Ok(())));
            assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
            assert_eq!(poll(next.as_mut(), &w), Poll::Ready(Some(7)));
        }
        let mut next = pin!(rx.recv());
        assert_eq!(poll(next.as_mut(), &w), Poll::Pending);
        drop(tx);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert_eq!(poll(next.as_mut(), &w), Poll::Ready(None));
    }

    #[test]
    fn queued_items_outlive_the_reader_and_a_gone_executor_refuses_more() {
        let (tx, mut rx) = channel::<u32>(4);
        let (_, w) = waker();
        assert_eq!(poll(pin!(tx.send(1)), &w), Poll::Ready(Ok(())));
        drop(tx);
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(Some(1)));
        assert_eq!(poll(pin!(rx.recv()), &w), Poll::Ready(None));

        let (tx, rx) = channel::<u32>(1);
        assert_eq!(poll(pin!(tx.send(1)), &w), Poll::Ready(Ok(())));
        let (wakes, sw) = waker();
        let mut blocked = pin!(tx.send(2));
        assert_eq!(poll(blocked.as_mut(), &sw), Poll::Pending);
        drop(rx);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(blocked.as_mut(), &sw), Poll::Ready(Err(2)));
    }
}
