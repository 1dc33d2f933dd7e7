//! What a transaction on this thread changed that other parts of the process must hear of once
//! it has committed: halls with newly claimable jobs (their waiting agents are woken) and licence
//! status changes (the verify routes' in-memory rows are dropped). Storage and service code note
//! them inside the transaction; `AppState::db` takes them after its closure has returned, i.e.
//! after the commit, and acts on them. A note left by a rolled-back transaction costs a spurious
//! wake-up or one re-read, never a wrong answer. Other processes learn the same through the
//! database (PostgreSQL `NOTIFY`, the `register_changes` counter).

use std::cell::RefCell;

/// The notes of one unit of work.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Noted {
    /// Halls whose agents may now claim a job.
    pub halls: Vec<String>,
    /// Some licence's status changed.
    pub register_changed: bool,
}

thread_local! {
    static NOTED: RefCell<Noted> = RefCell::new(Noted::default());
}

/// A job of `hall` became claimable in this thread's transaction.
pub fn note_hall(hall: &str) {
    NOTED.with(|n| n.borrow_mut().halls.push(hall.to_string()));
}

/// A licence's status changed in this thread's transaction.
pub fn note_register_change() {
    NOTED.with(|n| n.borrow_mut().register_changed = true);
}

/// Everything noted on this thread since the last call (and forget it).
pub fn take() -> Noted {
    NOTED.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_taken_once() {
        drop(take());
        note_hall("H");
        note_register_change();
        assert_eq!(
            take(),
            Noted {
                halls: vec!["H".into()],
                register_changed: true
            }
        );
        assert_eq!(take(), Noted::default());
    }
}
