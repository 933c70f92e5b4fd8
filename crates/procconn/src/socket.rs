//! The proc connector socket: subscribe, receive, count losses.
//!
//! [`ProcConnector::open`] creates a `NETLINK_CONNECTOR` datagram socket,
//! binds it to the `CN_IDX_PROC` multicast group, sizes its receive buffer
//! and sends `PROC_CN_MCAST_LISTEN`. Dropping it sends
//! `PROC_CN_MCAST_IGNORE` in the *same form* as the LISTEN: the kernel keeps
//! one global listener count for the whole host, and an IGNORE in the other
//! form is either dropped (count stays raised) or, on some kernels, drives
//! the count negative, which stops event delivery for every listener.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_CONNECTOR, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

use crate::error::{Error, Result};
use crate::event::{what, EventKind, ProcEvent};
use crate::loss::{Loss, LossTracker};
use crate::parse::{self, parse_datagram, CN_IDX_PROC, CN_MSG_LEN, CN_VAL_PROC, NLMSG_HDRLEN};

/// `PROC_CN_MCAST_LISTEN` (`enum proc_cn_mcast_op`).
pub const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `PROC_CN_MCAST_IGNORE` (`enum proc_cn_mcast_op`).
pub const PROC_CN_MCAST_IGNORE: u32 = 2;
/// `PROC_EVENT_ALL`: every event type a filter can select.
pub const PROC_EVENT_ALL: u32 = what::FORK
    | what::EXEC
    | what::UID
    | what::GID
    | what::SID
    | what::PTRACE
    | what::COMM
    | what::NONZERO_EXIT
    | what::COREDUMP
    | what::EXIT;

/// The first kernel version whose proc connector accepts the 8-byte
/// `struct proc_input` {mcast_op, event_type} and filters in the kernel.
pub const FILTER_MIN_KERNEL: (u32, u32) = (6, 6);

/// Default receive buffer requested: large enough to absorb a burst of
/// tens of thousands of events while the reader is descheduled.
pub const DEFAULT_RECV_BUFFER: usize = 16 << 20;

/// Datagrams read per `recvmmsg(2)` call. Under a fork storm this divides
/// the number of receive system calls by up to this factor.
pub const BATCH: usize = 32;

/// Bytes per datagram slot. The connector sends one 76-byte message per
/// datagram; a larger datagram is cut and counted in
/// [`Loss::truncated_datagrams`].
const SLOT: usize = 2048;

/// How to open a [`ProcConnector`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Receive buffer to request, in bytes (`None`: keep the system
    /// default). Set with `SO_RCVBUFFORCE` when permitted (root), else
    /// `SO_RCVBUF` (capped by `net.core.rmem_max`); see
    /// [`ProcConnector::recv_buffer_size`] for what was granted.
    pub recv_buffer: Option<usize>,
    /// Deliver only events whose `what` bit is in this mask (the
    /// [`crate::event::what`] constants, plus `what::NONZERO_EXIT` to get
    /// only exits with a non-zero status). On kernels ≥ 6.6 the kernel
    /// filters (and per-CPU gap counting is off, because filtered events
    /// consume sequence numbers too); on older kernels the plain
    /// subscription is used and the same mask is applied here. `None`, or
    /// a mask equal to [`PROC_EVENT_ALL`], means everything.
    pub filter: Option<u32>,
    /// Put the socket in non-blocking mode: receives that would block
    /// return `Ok(None)`.
    pub nonblocking: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            recv_buffer: Some(DEFAULT_RECV_BUFFER),
            filter: None,
            nonblocking: false,
        }
    }
}

impl Config {
    /// Sets [`Config::recv_buffer`].
    pub fn recv_buffer(mut self, bytes: Option<usize>) -> Self {
        self.recv_buffer = bytes;
        self
    }
    /// Sets [`Config::filter`].
    pub fn filter(mut self, mask: Option<u32>) -> Self {
        self.filter = mask;
        self
    }
    /// Sets [`Config::nonblocking`].
    pub fn nonblocking(mut self, nonblocking: bool) -> Self {
        self.nonblocking = nonblocking;
        self
    }
}

/// Which subscription was sent to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Subscription {
    /// The 4-byte form (`enum proc_cn_mcast_op` only): every event, exact
    /// per-CPU loss counting.
    All,
    /// The 8-byte `struct proc_input` with this event mask: the kernel
    /// filters (acks included: none arrive); per-CPU gap counting is off.
    KernelFilter(u32),
    /// A filter was asked for but the kernel is older than 6.6: the 4-byte
    /// form was sent and this mask is applied in user space.
    UserFilter(u32),
}

impl Subscription {
    /// The effective event mask, if any.
    pub fn mask(self) -> Option<u32> {
        match self {
            Subscription::All => None,
            Subscription::KernelFilter(m) | Subscription::UserFilter(m) => Some(m),
        }
    }
}

/// The running kernel's `(major, minor)` version from `uname -r`, or `None`
/// if it cannot be read or parsed.
pub fn kernel_version() -> Option<(u32, u32)> {
    let uts = nix::sys::utsname::uname().ok()?;
    parse_kernel_release(uts.release().to_str()?)
}

/// Parses `"6.18.44-foo"` into `(6, 18)`.
pub fn parse_kernel_release(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether `ev` passes `mask` with the kernel's `cn_filter()` semantics.
fn passes(mask: u32, ev: &ProcEvent) -> bool {
    let w = parse::build::event_what(&ev.kind);
    if mask & what::NONZERO_EXIT != 0 {
        if let EventKind::Exit { exit_code, .. } = ev.kind {
            if exit_code != 0 {
                return true;
            }
        }
    }
    mask & w != 0
}

/// A subscribed proc connector socket. See the module documentation.
///
/// Receiving parses every message, counts losses (see [`crate::loss`]) and
/// queues the events; `next_event`, `recv_events` and the `events`
/// iterator hand them out. Datagrams are read in batches (`recvmmsg`) into
/// reused buffers: beyond the events themselves, receiving does not
/// allocate.
#[derive(Debug)]
pub struct ProcConnector {
    sock: Socket,
    /// `BATCH` receive slots of `SLOT` bytes, reused for every receive.
    slots: Box<[u8]>,
    /// Bytes received per slot by the last batch (0: skipped).
    slot_lens: [usize; BATCH],
    /// Buffer of `recv_raw`.
    raw: Vec<u8>,
    pending: VecDeque<ProcEvent>,
    tracker: LossTracker,
    subscription: Option<Subscription>,
    /// Form of the LISTEN we sent (true: 8-byte), to send IGNORE the same way.
    listen_long_form: bool,
    /// Mask applied in user space (fallback for old kernels).
    user_mask: Option<u32>,
    requested_filter: Option<u32>,
    recv_buffer_size: usize,
    recv_buffer_forced: bool,
    nonblocking: bool,
    /// The last receive left the socket's queue empty.
    drained: bool,
    foreign_datagrams: u64,
    req_seq: u32,
}

impl ProcConnector {
    /// Opens the socket, sizes its receive buffer and subscribes.
    ///
    /// Must run in the initial user and pid namespaces (the kernel ignores
    /// requests from elsewhere); older kernels also want `CAP_NET_ADMIN`
    /// and answer others with an [`EventKind::Ack`] whose `err` is `EPERM`.
    /// Sending succeeds either way: watch for that ack, or for events.
    ///
    /// # Errors
    /// [`Error::Socket`] when the socket cannot be created, bound or
    /// configured; [`Error::Subscribe`] when the request cannot be sent.
    pub fn open(config: &Config) -> Result<Self> {
        let mut conn = Self::open_unsubscribed(config)?;
        conn.subscribe()?;
        Ok(conn)
    }

    /// Like [`ProcConnector::open`] but does not subscribe: call
    /// [`ProcConnector::subscribe`] later. Events still arrive if another
    /// listener on the host is subscribed.
    ///
    /// # Errors
    /// [`Error::Socket`] when the socket cannot be created, bound or
    /// configured.
    pub fn open_unsubscribed(config: &Config) -> Result<Self> {
        let mut sock = Socket::new(NETLINK_CONNECTOR).map_err(|source| Error::Socket {
            context: "socket(NETLINK_CONNECTOR)",
            source,
        })?;
        // `bind` takes a group bitmask: CN_IDX_PROC = 1 is bit 0.
        sock.bind(&SocketAddr::new(0, 1 << (CN_IDX_PROC - 1)))
            .map_err(|source| Error::Socket {
                context: "bind CN_IDX_PROC",
                source,
            })?;
        let mut recv_buffer_forced = false;
        if let Some(bytes) = config.recv_buffer {
            // The kernel doubles the value for bookkeeping; ask for half.
            let want = (bytes / 2).min(i32::MAX as usize);
            match setsockopt(&sock, sockopt::RcvBufForce, &want) {
                Ok(()) => recv_buffer_forced = true,
                Err(e) => {
                    log::debug!("SO_RCVBUFFORCE not permitted ({e}), using SO_RCVBUF");
                    setsockopt(&sock, sockopt::RcvBuf, &want).map_err(|e| Error::Socket {
                        context: "setsockopt SO_RCVBUF",
                        source: e.into(),
                    })?;
                }
            }
        }
        let recv_buffer_size = getsockopt(&sock, sockopt::RcvBuf).map_err(|e| Error::Socket {
            context: "getsockopt SO_RCVBUF",
            source: e.into(),
        })?;
        if config.nonblocking {
            sock.set_non_blocking(true)
                .map_err(|source| Error::Socket {
                    context: "set O_NONBLOCK",
                    source,
                })?;
        }
        // The kernel ignores unknown bits and treats an empty mask as "all"
        // (`valid_event()`); normalise the same way so the user-space
        // fallback behaves identically.
        let filter = config
            .filter
            .map(|m| m & PROC_EVENT_ALL)
            .filter(|&m| m != 0 && m != PROC_EVENT_ALL);
        Ok(ProcConnector {
            sock,
            slots: vec![0u8; BATCH * SLOT].into_boxed_slice(),
            slot_lens: [0; BATCH],
            raw: Vec::new(),
            pending: VecDeque::with_capacity(64),
            tracker: LossTracker::new(true),
            subscription: None,
            listen_long_form: false,
            user_mask: None,
            requested_filter: filter,
            recv_buffer_size,
            recv_buffer_forced,
            nonblocking: config.nonblocking,
            drained: false,
            foreign_datagrams: 0,
            req_seq: 0,
        })
    }

    /// Sends `PROC_CN_MCAST_LISTEN` (no-op if already subscribed) and
    /// returns the form used. The kernel handles the request synchronously,
    /// so events are generated from the moment this returns.
    ///
    /// # Errors
    /// [`Error::Subscribe`] when the request cannot be sent.
    pub fn subscribe(&mut self) -> Result<Subscription> {
        if let Some(s) = self.subscription {
            return Ok(s);
        }
        let (sub, long) = match self.requested_filter {
            None => (Subscription::All, false),
            Some(mask) => match kernel_version() {
                Some(v) if v >= FILTER_MIN_KERNEL => (Subscription::KernelFilter(mask), true),
                v => {
                    log::info!(
                        "kernel {v:?} is older than {FILTER_MIN_KERNEL:?} (or unknown): \
                         no kernel-side filter, filtering in user space"
                    );
                    (Subscription::UserFilter(mask), false)
                }
            },
        };
        self.send_mcast_op(PROC_CN_MCAST_LISTEN, long, sub.mask())
            .map_err(|source| Error::Subscribe {
                op: "listen",
                source,
            })?;
        self.listen_long_form = long;
        self.user_mask = match sub {
            Subscription::UserFilter(m) => Some(m),
            _ => None,
        };
        // Sequence gaps are exact only when the kernel sends us everything.
        let tracking = !matches!(sub, Subscription::KernelFilter(_));
        if tracking != self.tracker.loss().seq_tracking {
            self.tracker = LossTracker::new(tracking);
        }
        self.subscription = Some(sub);
        Ok(sub)
    }

    /// Sends `PROC_CN_MCAST_IGNORE` in the same form as the LISTEN (no-op if
    /// not subscribed). Also done on drop.
    ///
    /// # Errors
    /// [`Error::Subscribe`] when the request cannot be sent.
    pub fn unsubscribe(&mut self) -> Result<()> {
        let Some(sub) = self.subscription.take() else {
            return Ok(());
        };
        self.send_mcast_op(PROC_CN_MCAST_IGNORE, self.listen_long_form, sub.mask())
            .map_err(|source| Error::Subscribe {
                op: "ignore",
                source,
            })
    }

    fn send_mcast_op(&mut self, op: u32, long_form: bool, mask: Option<u32>) -> io::Result<()> {
        let data_len = if long_form { 8 } else { 4 };
        let total = NLMSG_HDRLEN + CN_MSG_LEN + data_len;
        self.req_seq = self.req_seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(total);
        // struct nlmsghdr
        msg.extend_from_slice(&(total as u32).to_ne_bytes());
        msg.extend_from_slice(&parse::NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&self.req_seq.to_ne_bytes());
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        // struct cn_msg
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&self.req_seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&(data_len as u16).to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
                                                    // enum proc_cn_mcast_op, or struct proc_input
        msg.extend_from_slice(&op.to_ne_bytes());
        if long_form {
            msg.extend_from_slice(&mask.unwrap_or(PROC_EVENT_ALL).to_ne_bytes());
        }
        let n = self.sock.send_to(&msg, &SocketAddr::new(0, 0), 0)?;
        if n != total {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// The subscription in effect (`None` when not subscribed).
    pub fn subscription(&self) -> Option<Subscription> {
        self.subscription
    }

    /// The receive buffer the kernel granted (`SO_RCVBUF` as read back: the
    /// kernel reports twice the requested value, its bookkeeping included).
    pub fn recv_buffer_size(&self) -> usize {
        self.recv_buffer_size
    }

    /// Whether the buffer was set with `SO_RCVBUFFORCE` (beyond
    /// `net.core.rmem_max`).
    pub fn recv_buffer_forced(&self) -> bool {
        self.recv_buffer_forced
    }

    /// Loss counters so far: "how many events did I miss".
    pub fn loss(&self) -> Loss {
        self.tracker.loss()
    }

    /// Datagrams dropped because they did not come from the kernel
    /// (netlink port id ≠ 0): a local process may send to our socket.
    pub fn foreign_datagrams(&self) -> u64 {
        self.foreign_datagrams
    }

    /// Switches non-blocking mode.
    ///
    /// # Errors
    /// [`Error::Socket`] when `fcntl` fails.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> Result<()> {
        self.sock
            .set_non_blocking(nonblocking)
            .map_err(|source| Error::Socket {
                context: "set O_NONBLOCK",
                source,
            })?;
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// Waits until the socket is readable or `deadline` passes. `false` on
    /// timeout or `EINTR`.
    fn wait_readable(&self, deadline: Instant) -> Result<bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // Round up so a sub-millisecond rest does not spin.
        let ms = left.as_micros().div_ceil(1000);
        let pt = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, pt) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(Error::Recv(e.into())),
        }
    }

    /// Runs `recv` until it succeeds, honouring the timeout rules of
    /// [`ProcConnector::next_event`]: `Ok(None)` on timeout, would-block or
    /// `EINTR`; `ENOBUFS` is counted and receiving continues (the queue
    /// still holds the events that did fit).
    fn receive<T>(
        &mut self,
        timeout: Option<Duration>,
        mut recv: impl FnMut(&mut Self, bool) -> io::Result<T>,
    ) -> Result<Option<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let dontwait = self.nonblocking || deadline.is_some();
            match recv(self, dontwait) {
                Ok(v) => return Ok(Some(v)),
                Err(e) => match e.raw_os_error() {
                    Some(libc::ENOBUFS) => {
                        self.tracker.record_enobufs();
                        log::warn!("proc connector receive queue overflowed (ENOBUFS)");
                    }
                    Some(libc::EINTR) => return Ok(None),
                    Some(libc::EAGAIN) => {
                        self.drained = true;
                        match deadline {
                            Some(d) if !self.nonblocking => {
                                if !self.wait_readable(d)? {
                                    return Ok(None);
                                }
                            }
                            _ => return Ok(None),
                        }
                    }
                    _ => return Err(Error::Recv(e)),
                },
            }
        }
    }

    /// One `recvmmsg(2)`: up to [`BATCH`] datagrams into the slots. With
    /// `dontwait` it never blocks; otherwise it blocks for the first
    /// datagram only (`MSG_WAITFORONE`). Returns how many slots were filled.
    fn recv_batch(&mut self, dontwait: bool) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut addrs: [libc::sockaddr_nl; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, slot) in self.slots.chunks_exact_mut(SLOT).enumerate() {
            iov[i].iov_base = slot.as_mut_ptr().cast();
            iov[i].iov_len = SLOT;
        }
        for i in 0..BATCH {
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = std::ptr::from_mut(&mut addrs[i]).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
        }
        let flags = if dontwait {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        // SAFETY: every header points at live, correctly sized buffers
        // (`iov`/`addrs` on this stack frame, the slots in `self`) that
        // outlive the call; the kernel writes at most `iov_len` bytes each.
        let n = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as _,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(BATCH);
        // A non-blocking recvmmsg stops early only when the queue ran dry
        // (or an error waits, which the next receive reports).
        self.drained = n < BATCH;
        for i in 0..n {
            let len = (hdrs[i].msg_len as usize).min(SLOT);
            // Only the kernel (port id 0) sends proc events; any local
            // process could unicast to our port.
            self.slot_lens[i] = if addrs[i].nl_pid != 0 {
                self.foreign_datagrams += 1;
                log::debug!("dropped a datagram from port {}", addrs[i].nl_pid);
                0
            } else {
                len
            };
            if hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                self.tracker.record_truncated();
                log::warn!("proc connector datagram larger than {SLOT} bytes truncated");
            }
        }
        Ok(n)
    }

    /// Receives up to [`BATCH`] datagrams (waiting at most `timeout` for
    /// the first) and queues their events. `false` on timeout,
    /// would-block or `EINTR`.
    fn fill(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let Some(n) = self.receive(timeout, |c, dontwait| c.recv_batch(dontwait))? else {
            return Ok(false);
        };
        for i in 0..n {
            let len = self.slot_lens[i];
            self.ingest(i * SLOT, len);
        }
        Ok(true)
    }

    /// Receives one raw datagram (for capturing fixtures), bypassing the
    /// event queue. Only ENOBUFS and truncation are accounted; sequence
    /// numbers are not looked at, so mixing this with the parsed API makes
    /// gaps appear.
    ///
    /// # Errors
    /// [`Error::Recv`] when receiving fails (other than `ENOBUFS`, which
    /// is counted as loss).
    pub fn recv_raw(&mut self, timeout: Option<Duration>) -> Result<Option<&[u8]>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let got = self.receive(left, |c, dontwait| {
                let flags = libc::MSG_TRUNC | if dontwait { libc::MSG_DONTWAIT } else { 0 };
                c.raw.clear();
                c.raw.reserve(SLOT);
                let (n, addr) = c.sock.recv_from(&mut c.raw, flags)?;
                if n > c.raw.len() {
                    c.tracker.record_truncated();
                }
                Ok(addr.port_number() == 0)
            })?;
            match got {
                Some(true) => return Ok(Some(&self.raw)),
                // Not from the kernel: skip it, like the parsed API does.
                Some(false) => self.foreign_datagrams += 1,
                None => return Ok(None),
            }
        }
    }

    /// Parses the datagram at `slots[off..off + len]` into `pending`.
    fn ingest(&mut self, off: usize, len: usize) {
        let Some(dg) = self.slots.get(off..off + len) else {
            return;
        };
        for item in parse_datagram(dg) {
            match item {
                Ok(ev) => {
                    self.tracker.observe(&ev);
                    if self.user_mask.is_none_or(|m| passes(m, &ev)) {
                        self.pending.push_back(ev);
                    }
                }
                Err(e) => {
                    log::warn!("bad proc connector message: {e}");
                    self.tracker.observe_error(&e);
                }
            }
        }
    }

    /// The next event, waiting at most `timeout` (`None`: block, unless in
    /// non-blocking mode). `Ok(None)` on timeout, would-block or `EINTR`
    /// (so a signal handler's flag can be checked).
    ///
    /// Datagrams are read in batches of up to [`BATCH`] per system call;
    /// the events of a batch are queued and handed out one by one.
    ///
    /// # Errors
    /// [`Error::Recv`] when receiving fails (other than `ENOBUFS`, which
    /// is counted as loss).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<ProcEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(Some(ev));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !self.fill(left)? {
                return Ok(None);
            }
        }
    }

    /// Appends to `out` all queued events plus those of one more batch of
    /// datagrams (waiting at most `timeout` for it if nothing was queued).
    /// Returns the number appended; 0 on timeout.
    ///
    /// # Errors
    /// [`Error::Recv`] when receiving fails (other than `ENOBUFS`, which
    /// is counted as loss).
    pub fn recv_events(
        &mut self,
        out: &mut Vec<ProcEvent>,
        timeout: Option<Duration>,
    ) -> Result<usize> {
        let queued = !self.pending.is_empty();
        let wait = if queued {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.fill(wait)?;
        let count = self.pending.len();
        out.extend(self.pending.drain(..));
        Ok(count)
    }

    /// Receives without waiting until the socket is empty or `out` holds
    /// `limit` events (it may hold up to one batch more): what a
    /// non-blocking caller does when its descriptor polls readable. Stops
    /// at the first short batch ([`ProcConnector::drained`]) rather than
    /// asking once more for an `EAGAIN`. Returns how many were appended.
    ///
    /// # Errors
    /// [`Error::Recv`] when receiving fails; the events appended before it
    /// stay in `out`.
    pub fn drain_into(&mut self, out: &mut Vec<ProcEvent>, limit: usize) -> Result<usize> {
        let before = out.len();
        while out.len() < limit {
            match self.recv_events(out, Some(Duration::ZERO))? {
                0 => break,
                _ if self.drained() => break,
                _ => {}
            }
        }
        Ok(out.len() - before)
    }

    /// Whether the last receive left the socket's queue empty: it got
    /// fewer datagrams than it had room for, or none (`EAGAIN`). A caller
    /// draining a non-blocking connector until [`recv_events`]
    /// returns 0 can stop here instead, one `recvmmsg` (that would only
    /// say `EAGAIN`) sooner per wake-up; events arriving meanwhile make
    /// the socket readable again.
    ///
    /// [`recv_events`]: ProcConnector::recv_events
    pub fn drained(&self) -> bool {
        self.drained && self.pending.is_empty()
    }

    /// Number of events received but not yet handed out.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }

    /// A blocking iterator over events (in non-blocking mode it ends when
    /// no event is ready). Ends early if a receive is interrupted by a
    /// signal. Errors are yielded, after which iteration may continue.
    pub fn events(&mut self) -> Events<'_> {
        Events { conn: self }
    }
}

impl Drop for ProcConnector {
    fn drop(&mut self) {
        if let Err(e) = self.unsubscribe() {
            log::warn!("{e}");
        }
    }
}

impl AsFd for ProcConnector {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for ProcConnector {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Iterator returned by [`ProcConnector::events`].
#[derive(Debug)]
pub struct Events<'a> {
    conn: &'a mut ProcConnector,
}

impl Iterator for Events<'_> {
    type Item = Result<ProcEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.conn.next_event(None).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExitStatus;

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(
            parse_kernel_release("3.10.0-1160.el7.x86_64"),
            Some((3, 10))
        );
        assert_eq!(parse_kernel_release("6.6"), Some((6, 6)));
        assert_eq!(parse_kernel_release("garbage"), None);
        assert_eq!(parse_kernel_release(""), None);
        assert!((6, 5) < FILTER_MIN_KERNEL && (6, 6) >= FILTER_MIN_KERNEL);
    }

    #[test]
    fn user_filter_matches_kernel_semantics() {
        let exit = |code| ProcEvent {
            seq: 0,
            cpu: 0,
            timestamp_ns: 0,
            kind: EventKind::Exit {
                process_pid: 1,
                process_tgid: 1,
                exit_code: code,
                status: ExitStatus::from_wait_status(code),
                exit_signal: 17,
                parent_pid: None,
                parent_tgid: None,
            },
        };
        let ack = ProcEvent {
            seq: 0,
            cpu: 0,
            timestamp_ns: 0,
            kind: EventKind::Ack { err: 0 },
        };
        assert!(passes(what::EXIT, &exit(0)));
        assert!(!passes(what::NONZERO_EXIT, &exit(0)));
        assert!(passes(what::NONZERO_EXIT, &exit(9)));
        assert!(!passes(what::FORK, &exit(9)));
        assert!(!passes(what::FORK | what::EXIT, &ack));
    }
}
