//! The server's clock. The engine never reads time; the server passes `now` in. Tests run the
//! server with `--test-clock` and move time through the admin API, so timers can be proven
//! without waiting.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

#[derive(Clone, Debug)]
pub enum Clock {
    System,
    /// A clock that starts at the real time and moves only by an offset set through the API.
    Manual(Arc<Mutex<Duration>>),
}

impl Clock {
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(Duration::zero())))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(offset) => Utc::now() + *offset.lock().expect("clock lock"),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Clock::Manual(_))
    }

    /// Moves a manual clock forward; returns the new time. No effect on the system clock.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        if let Clock::Manual(offset) = self {
            *offset.lock().expect("clock lock") += by;
        }
        self.now()
    }

    /// Sets a manual clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if let Clock::Manual(offset) = self {
            *offset.lock().expect("clock lock") = at - Utc::now();
        }
        self.now()
    }
}
