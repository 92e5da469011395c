//! Values derived from a configuration, kept per worker thread while that configuration is the
//! one in use: the request path reads them without a lock, and a reload (a new `Arc<Config>`)
//! makes them again. The configuration is held with its value, so a reloaded one cannot reuse
//! its address and be taken for the old one.

use crate::config::Config;
use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

/// A thread's value for the configuration it last saw.
pub type Slot<T> = RefCell<Option<(Arc<Config>, T)>>;

/// `f` with `slot`'s value for `cfg`, made by `make` when `cfg` is not the one it was made for.
pub fn with<T: 'static, R>(
    slot: &'static LocalKey<Slot<T>>,
    cfg: &Arc<Config>,
    make: impl FnOnce(&Config) -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    slot.with_borrow_mut(|cache| {
        if !matches!(cache, Some((c, _)) if Arc::ptr_eq(c, cfg)) {
            *cache = Some((cfg.clone(), make(cfg)));
        }
        let (_, value) = cache.as_mut().expect("filled above");
        f(value)
    })
}
