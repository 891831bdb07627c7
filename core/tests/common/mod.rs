//! What the property tests share.
#![allow(dead_code, missing_docs)]

use std::cell::Cell;
use std::rc::Rc;

use sluice_core::Carried;

/// A download as a connection carries it: finished once its flag is set.
#[derive(Debug, Clone)]
pub struct Dl {
    pub id: usize,
    pub finished: Rc<Cell<bool>>,
}

impl Carried for Dl {
    fn is_finished(&self) -> bool {
        self.finished.get()
    }
}
