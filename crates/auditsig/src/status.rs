//! `struct audit_status` and `struct audit_features` codecs.
//!
//! The kernel has grown `audit_status` over time: 8 fields (32 bytes) up
//! to 3.13, then `feature_bitmap` (3.14), `backlog_wait_time` (3.14),
//! `backlog_wait_time_actual` (5.9). Decoding accepts any length ≥ 32 and
//! reports the later fields as `None` when the kernel did not send them;
//! bytes beyond the fields we know (a future kernel) are ignored.

use crate::error::{Error, Result};
use crate::netlink::read_u32;

/// `AUDIT_STATUS_ENABLED`: `enabled` is valid / to be set.
pub const AUDIT_STATUS_ENABLED: u32 = 0x0001;
/// `AUDIT_STATUS_FAILURE`.
pub const AUDIT_STATUS_FAILURE: u32 = 0x0002;
/// `AUDIT_STATUS_PID`.
pub const AUDIT_STATUS_PID: u32 = 0x0004;
/// `AUDIT_STATUS_RATE_LIMIT`.
pub const AUDIT_STATUS_RATE_LIMIT: u32 = 0x0008;
/// `AUDIT_STATUS_BACKLOG_LIMIT`.
pub const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x0010;
/// `AUDIT_STATUS_BACKLOG_WAIT_TIME`.
pub const AUDIT_STATUS_BACKLOG_WAIT_TIME: u32 = 0x0020;
/// `AUDIT_STATUS_LOST` (setting it resets the counter).
pub const AUDIT_STATUS_LOST: u32 = 0x0040;
/// `AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL`.
pub const AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL: u32 = 0x0080;

/// Size of the original 8-field `struct audit_status`.
pub const AUDIT_STATUS_MIN_LEN: usize = 32;
/// Size of `struct audit_status` as this crate knows it (11 fields).
pub const AUDIT_STATUS_LEN: usize = 44;

/// The kernel's audit status (`struct audit_status`, reply to `AUDIT_GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AuditStatus {
    /// `mask`: which fields are valid (in a request: which to set).
    pub mask: u32,
    /// `enabled`: 0 off, 1 on, 2 on and locked (immutable until reboot).
    pub enabled: u32,
    /// `failure`: failure-to-log action (0 silent, 1 printk, 2 panic).
    pub failure: u32,
    /// `pid`: the registered audit daemon's pid (0 = none; a `pid_t`,
    /// sent as `__u32`).
    pub pid: i32,
    /// `rate_limit`: messages per second (0 = unlimited).
    pub rate_limit: u32,
    /// `backlog_limit`: queued messages before loss/waiting.
    pub backlog_limit: u32,
    /// `lost`: records the kernel dropped since boot (or the last reset).
    pub lost: u32,
    /// `backlog`: records waiting in the kernel queue.
    pub backlog: u32,
    /// `feature_bitmap` (formerly `version`), kernel ≥ 3.14.
    pub feature_bitmap: Option<u32>,
    /// `backlog_wait_time` in jiffies, kernel ≥ 3.14.
    pub backlog_wait_time: Option<u32>,
    /// `backlog_wait_time_actual`, kernel ≥ 5.9.
    pub backlog_wait_time_actual: Option<u32>,
}

impl AuditStatus {
    /// Decodes an `AUDIT_GET` reply payload. Needs the 32-byte original
    /// layout; later fields are optional; extra bytes are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] for a buffer shorter than the original layout
    /// (32 bytes for `audit_status`, 16 for `audit_features`).
    pub fn decode(buf: &[u8]) -> Result<AuditStatus> {
        if buf.len() < AUDIT_STATUS_MIN_LEN {
            return Err(Error::Truncated {
                what: "audit_status",
                need: AUDIT_STATUS_MIN_LEN,
                got: buf.len(),
            });
        }
        let f = |i: usize| read_u32(buf, i * 4);
        Ok(AuditStatus {
            mask: f(0).unwrap_or(0),
            enabled: f(1).unwrap_or(0),
            failure: f(2).unwrap_or(0),
            pid: f(3).unwrap_or(0) as i32,
            rate_limit: f(4).unwrap_or(0),
            backlog_limit: f(5).unwrap_or(0),
            lost: f(6).unwrap_or(0),
            backlog: f(7).unwrap_or(0),
            feature_bitmap: f(8),
            backlog_wait_time: f(9),
            backlog_wait_time_actual: f(10),
        })
    }

    /// Encodes the full 44-byte struct (for `AUDIT_SET`; absent optional
    /// fields as 0). Older kernels read only the prefix they know, newer
    /// ones zero-fill what we do not send.
    pub fn encode(&self) -> Vec<u8> {
        let fields = [
            self.mask,
            self.enabled,
            self.failure,
            self.pid as u32,
            self.rate_limit,
            self.backlog_limit,
            self.lost,
            self.backlog,
            self.feature_bitmap.unwrap_or(0),
            self.backlog_wait_time.unwrap_or(0),
            self.backlog_wait_time_actual.unwrap_or(0),
        ];
        fields.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    /// `true` if audit is enabled (1) or enabled and locked (2).
    pub fn is_enabled(&self) -> bool {
        self.enabled != 0
    }

    /// `true` if the configuration is locked (`auditctl -e 2`): nothing
    /// can be changed until reboot.
    pub fn is_locked(&self) -> bool {
        self.enabled == 2
    }
}

/// `AUDIT_FEATURE_VERSION`.
pub const AUDIT_FEATURE_VERSION: u32 = 1;
/// Feature bit `AUDIT_FEATURE_ONLY_UNSET_LOGINUID` (as a mask).
pub const AUDIT_FEATURE_ONLY_UNSET_LOGINUID: u32 = 1 << 0;
/// Feature bit `AUDIT_FEATURE_LOGINUID_IMMUTABLE` (as a mask).
pub const AUDIT_FEATURE_LOGINUID_IMMUTABLE: u32 = 1 << 1;

/// `struct audit_features` (reply to `AUDIT_GET_FEATURE`, kernel ≥ 3.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AuditFeatures {
    /// `vers`: `AUDIT_FEATURE_VERSION`.
    pub vers: u32,
    /// `mask`: which feature bits are meaningful.
    pub mask: u32,
    /// `features`: enabled features.
    pub features: u32,
    /// `lock`: features that can no longer be changed.
    pub lock: u32,
}

impl AuditFeatures {
    /// Decodes an `AUDIT_GET_FEATURE` reply (16 bytes; extra ignored).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] for a buffer shorter than the original layout
    /// (32 bytes for `audit_status`, 16 for `audit_features`).
    pub fn decode(buf: &[u8]) -> Result<AuditFeatures> {
        let f = |i: usize| read_u32(buf, i * 4);
        match (f(0), f(1), f(2), f(3)) {
            (Some(vers), Some(mask), Some(features), Some(lock)) => Ok(AuditFeatures {
                vers,
                mask,
                features,
                lock,
            }),
            _ => Err(Error::Truncated {
                what: "audit_features",
                need: 16,
                got: buf.len(),
            }),
        }
    }

    /// `true` if `AUDIT_FEATURE_LOGINUID_IMMUTABLE` is on.
    pub fn loginuid_immutable(&self) -> bool {
        self.features & AUDIT_FEATURE_LOGINUID_IMMUTABLE != 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_round_trip_and_lengths() {
        let s = AuditStatus {
            mask: 0xff,
            enabled: 1,
            failure: 1,
            pid: 42,
            rate_limit: 0,
            backlog_limit: 64,
            lost: 3,
            backlog: 0,
            feature_bitmap: Some(0x7f),
            backlog_wait_time: Some(15000),
            backlog_wait_time_actual: Some(0),
        };
        let b = s.encode();
        assert_eq!(b.len(), AUDIT_STATUS_LEN);
        assert_eq!(AuditStatus::decode(&b).unwrap(), s);
        // Old kernel: 32 bytes.
        let old = AuditStatus::decode(&b[..32]).unwrap();
        assert_eq!(old.pid, 42);
        assert_eq!(old.feature_bitmap, None);
        // 3.14..5.8: 40 bytes.
        let mid = AuditStatus::decode(&b[..40]).unwrap();
        assert_eq!(mid.backlog_wait_time, Some(15000));
        assert_eq!(mid.backlog_wait_time_actual, None);
        // Future kernel: more bytes.
        let mut fut = b.clone();
        fut.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(AuditStatus::decode(&fut).unwrap(), s);
        assert!(matches!(
            AuditStatus::decode(&b[..31]),
            Err(Error::Truncated {
                need: 32,
                got: 31,
                ..
            })
        ));
    }

    #[test]
    fn features_decode() {
        let b: Vec<u8> = [1u32, 3, 2, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let f = AuditFeatures::decode(&b).unwrap();
        assert!(f.loginuid_immutable());
        assert!(AuditFeatures::decode(&b[..15]).is_err());
    }
}
