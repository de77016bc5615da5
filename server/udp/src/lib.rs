//! Batched UDP system calls for the Tickforge transport.
//!
//! Three calls std does not wrap, on Linux:
//! - [`send_many`]: datagrams to many peers in one `sendmmsg`;
//! - [`send_segments`]: equal-size datagrams to one peer in one `sendmsg`
//!   with `UDP_SEGMENT` (GSO: the kernel splits them), where [`has_gso`];
//! - [`recv_many`]: up to a batch of datagrams in one `recvmmsg`;
//! - [`send_many_from`] and [`recv_many_to`]: the same batches on one socket
//!   bound to the IPv4 wildcard that speaks for many local addresses (each
//!   datagram sent from its own, each one received telling which it was
//!   sent to: `IP_PKTINFO`), so one socket can carry many peers' traffic
//!   (the load test's bots, each with its own loopback address).
//!
//! Elsewhere the first three fall back to one `send_to` / `recv_from` per
//! datagram, so callers have one path; the local-address calls answer
//! `Unsupported`. This is the workspace's only crate with
//! `unsafe` code; every block says why it holds.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

/// Most datagrams one [`send_many`] call hands the kernel (its `UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;
/// Most segments in one [`send_segments`] call (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// Most bytes in one [`send_segments`] call (one IP datagram's payload).
pub const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Sends each `(peer, datagram)` of `datagrams` (at most [`MAX_BATCH`] are
/// tried); returns how many the kernel took, from the first. An error means
/// the first was refused (as `send_to` would have refused it).
pub fn send_many(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    #[cfg(target_os = "linux")]
    {
        linux::send_batch(socket, datagrams.iter().map(|&(to, bytes)| (None, to, bytes)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        socket.send_to(datagrams[0].1, datagrams[0].0).map(|_| 1)
    }
}

/// Sends `segments` to `peer` as separate datagrams in one call, the
/// kernel splitting them (GSO): all as long as the first but the last,
/// which may be shorter; at most [`MAX_SEGMENTS`] and
/// [`MAX_SEGMENTED_BYTES`] in all. Callers check [`has_gso`] first; an
/// error of kind `Unsupported` means the device cannot segment (nothing
/// was sent).
pub fn send_segments(socket: &UdpSocket, peer: SocketAddr, segments: &[&[u8]]) -> io::Result<()> {
    let Some(first) = segments.first() else { return Ok(()) };
    let total: usize = segments.iter().map(|s| s.len()).sum();
    let uniform = segments
        .split_last()
        .is_some_and(|(last, rest)| last.len() <= first.len() && rest.iter().all(|s| s.len() == first.len()));
    if !uniform || segments.len() > MAX_SEGMENTS || total > MAX_SEGMENTED_BYTES || first.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "segments not of one size, or too many"));
    }
    #[cfg(target_os = "linux")]
    {
        linux::send_segments(socket, peer, segments, first.len() as u16)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (socket, peer);
        Err(io::Error::new(io::ErrorKind::Unsupported, "no UDP segmentation here"))
    }
}

/// Whether the socket's kernel knows UDP segmentation (Linux 4.18 and later).
pub fn has_gso(socket: &UdpSocket) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::has_gso(socket)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

/// Makes `socket` (bound to the IPv4 wildcard) report the local address
/// each datagram it receives was sent to, for [`recv_many_to`].
pub fn report_local_addresses(socket: &UdpSocket) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        linux::report_local_addresses(socket)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        Err(io::Error::new(io::ErrorKind::Unsupported, "no local-address reports here"))
    }
}

/// [`send_many`], each datagram from its own local IPv4 address: `(from,
/// peer, datagram)`. The socket is bound to the IPv4 wildcard and each
/// `from` is an address of this host (any of 127.0.0.0/8 on loopback).
pub fn send_many_from(socket: &UdpSocket, datagrams: &[(Ipv4Addr, SocketAddr, &[u8])]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    #[cfg(target_os = "linux")]
    {
        linux::send_batch(socket, datagrams.iter().map(|&(from, to, bytes)| (Some(from), to, bytes)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        Err(io::Error::new(io::ErrorKind::Unsupported, "no chosen source addresses here"))
    }
}

/// [`recv_many`] on a socket that [`report_local_addresses`]: each
/// datagram's length, sender, and the local IPv4 address it was sent to
/// (`None` if the kernel did not say).
pub fn recv_many_to(
    socket: &UdpSocket,
    buffers: &mut [Box<[u8]>],
    got: &mut Vec<(usize, SocketAddr, Option<Ipv4Addr>)>,
) -> io::Result<()> {
    if buffers.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        linux::recv_batch(socket, buffers, true, |len, from, to| got.push((len, from, to)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let (len, from) = socket.recv_from(&mut buffers[0])?;
        got.push((len, from, None));
        Ok(())
    }
}

/// Reads up to `buffers.len()` datagrams without blocking, one per buffer,
/// appending each one's length and sender to `got` (in the order of the
/// buffers). Returns `WouldBlock` when nothing is waiting. A datagram
/// longer than its buffer is cut to the buffer's length.
pub fn recv_many(socket: &UdpSocket, buffers: &mut [Box<[u8]>], got: &mut Vec<(usize, SocketAddr)>) -> io::Result<()> {
    if buffers.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        linux::recv_batch(socket, buffers, false, |len, from, _| got.push((len, from)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let pair = socket.recv_from(&mut buffers[0])?;
        got.push(pair);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
    use std::os::fd::AsRawFd;

    /// `addr` as the kernel's socket address, and its length.
    fn to_raw(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: sockaddr_storage is plain integers; all zeroes is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }

    /// The kernel's socket address as std's, if it is an IP one.
    fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        match i32::from(storage.ss_family) {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it is aligned for.
                let sin = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6, which it is aligned for.
                let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// A message header with no address, data or control yet.
    fn empty_header() -> libc::msghdr {
        // SAFETY: msghdr is pointers and integers; all zeroes (null pointers, zero lengths) is valid.
        unsafe { zeroed() }
    }

    /// A control buffer with room for one `in_pktinfo` message, aligned
    /// for `cmsghdr`.
    type PktinfoControl = [u64; 6];

    /// The bytes one `in_pktinfo` control message takes (within a
    /// [`PktinfoControl`]).
    fn pktinfo_space() -> usize {
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
        debug_assert!(space <= size_of::<PktinfoControl>());
        space
    }

    pub(super) fn report_local_addresses(socket: &UdpSocket) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: `on` is a c_int, valid for reads of its length, for the call.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }

    /// One `sendmmsg` of `(from, to, bytes)`: `from`, where given, as the
    /// datagram's source address (an `IP_PKTINFO` control message).
    pub(super) fn send_batch<'a>(
        socket: &UdpSocket,
        datagrams: impl ExactSizeIterator<Item = (Option<Ipv4Addr>, SocketAddr, &'a [u8])>,
    ) -> io::Result<usize> {
        let count = datagrams.len();
        let mut addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)> = Vec::with_capacity(count);
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(count);
        let mut controls: Vec<PktinfoControl> = Vec::new();
        let mut sources: Vec<Option<Ipv4Addr>> = Vec::with_capacity(count);
        for (from, to, bytes) in datagrams {
            addrs.push(to_raw(to));
            iovs.push(libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() });
            sources.push(from);
        }
        if sources.iter().any(Option::is_some) {
            controls.resize(count, [0; 6]);
        }
        let space = pktinfo_space();
        let mut headers: Vec<libc::mmsghdr> = Vec::with_capacity(count);
        for (i, ((storage, len), iov)) in addrs.iter_mut().zip(iovs.iter_mut()).enumerate() {
            let mut msg_hdr = empty_header();
            msg_hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
            msg_hdr.msg_namelen = *len;
            msg_hdr.msg_iov = iov;
            msg_hdr.msg_iovlen = 1;
            if let Some(from) = sources[i] {
                msg_hdr.msg_control = controls[i].as_mut_ptr().cast();
                msg_hdr.msg_controllen = space;
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr { s_addr: u32::from_ne_bytes(from.octets()) },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                // SAFETY: the header's control buffer is `space` bytes, room
                // for one cmsghdr and an in_pktinfo, so CMSG_FIRSTHDR is not
                // null and its data fits.
                unsafe {
                    let cmsg = libc::CMSG_FIRSTHDR(&msg_hdr);
                    (*cmsg).cmsg_level = libc::IPPROTO_IP;
                    (*cmsg).cmsg_type = libc::IP_PKTINFO;
                    (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>(), info);
                }
            }
            headers.push(libc::mmsghdr { msg_hdr, msg_len: 0 });
        }
        loop {
            // SAFETY: every header points at an address, one iovec and (if
            // any) a control buffer that live (in `addrs`, `iovs`,
            // `controls`) until this call returns, each iovec at a datagram
            // borrowed for the call; the kernel only reads them and writes
            // each header's msg_len.
            let sent =
                unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), headers.len() as libc::c_uint, 0) };
            if sent >= 0 {
                return Ok(sent as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    pub(super) fn send_segments(
        socket: &UdpSocket,
        peer: SocketAddr,
        segments: &[&[u8]],
        segment_size: u16,
    ) -> io::Result<()> {
        let (mut storage, len) = to_raw(peer);
        let mut iovs: Vec<libc::iovec> = segments
            .iter()
            .map(|bytes| libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() })
            .collect();
        // Room for one control message holding a u16, kept aligned for cmsghdr.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
        debug_assert!(space <= size_of::<[u64; 4]>());
        let mut header = empty_header();
        header.msg_name = (&mut storage as *mut libc::sockaddr_storage).cast();
        header.msg_namelen = len;
        header.msg_iov = iovs.as_mut_ptr();
        header.msg_iovlen = iovs.len();
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = space;
        // SAFETY: the header's control buffer is `space` bytes, enough for one
        // cmsghdr and a u16, so CMSG_FIRSTHDR is not null and its data fits.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = libc::UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment_size);
        }
        loop {
            // SAFETY: the header points at the address, the iovecs (each at a
            // borrowed segment) and the control buffer, all alive for the call.
            let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, 0) };
            if sent >= 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                // The device or the route cannot segment.
                Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT) => {
                    return Err(io::Error::new(io::ErrorKind::Unsupported, error));
                }
                _ => return Err(error),
            }
        }
    }

    pub(super) fn has_gso(socket: &UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes of a c_int and its length.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0
    }

    /// One `recvmmsg` into `buffers`, each datagram's length, sender and
    /// (with `local`, from its `IP_PKTINFO` control message) the local
    /// address it was sent to handed to `got` in order.
    pub(super) fn recv_batch(
        socket: &UdpSocket,
        buffers: &mut [Box<[u8]>],
        local: bool,
        mut got: impl FnMut(usize, SocketAddr, Option<Ipv4Addr>),
    ) -> io::Result<()> {
        let count = buffers.len().min(super::MAX_BATCH);
        // SAFETY: sockaddr_storage is plain integers; all zeroes is valid.
        let mut addrs: Vec<libc::sockaddr_storage> = (0..count).map(|_| unsafe { zeroed() }).collect();
        let mut iovs: Vec<libc::iovec> = buffers[..count]
            .iter_mut()
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
            .collect();
        let mut controls: Vec<PktinfoControl> = if local { vec![[0; 6]; count] } else { Vec::new() };
        let space = size_of::<PktinfoControl>();
        let mut headers: Vec<libc::mmsghdr> = addrs
            .iter_mut()
            .zip(iovs.iter_mut())
            .enumerate()
            .map(|(i, (storage, iov))| {
                let mut msg_hdr = empty_header();
                msg_hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
                msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                msg_hdr.msg_iov = iov;
                msg_hdr.msg_iovlen = 1;
                if let Some(control) = controls.get_mut(i) {
                    msg_hdr.msg_control = control.as_mut_ptr().cast();
                    msg_hdr.msg_controllen = space;
                }
                libc::mmsghdr { msg_hdr, msg_len: 0 }
            })
            .collect();
        let read = loop {
            // SAFETY: every header points at an address buffer, one iovec and
            // (with `local`) a control buffer, each of its stated length, all
            // alive until the call returns; no timeout is passed.
            let read = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if read >= 0 {
                break read as usize;
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        };
        for (header, storage) in headers[..read].iter().zip(&addrs) {
            let Some(from) = from_raw(storage, header.msg_hdr.msg_namelen) else { continue };
            let to = if local { sent_to(&header.msg_hdr) } else { None };
            got(header.msg_len as usize, from, to);
        }
        Ok(())
    }

    /// The local address in a received message's `IP_PKTINFO`, if it has one.
    fn sent_to(header: &libc::msghdr) -> Option<Ipv4Addr> {
        if header.msg_control.is_null() {
            return None;
        }
        // SAFETY: the kernel filled the control buffer (msg_controllen
        // bytes of it) with whole control messages; CMSG_FIRSTHDR and
        // CMSG_NXTHDR stay within it and return null past the end.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::IPPROTO_IP
                    && (*cmsg).cmsg_type == libc::IP_PKTINFO
                    && (*cmsg).cmsg_len as usize >= libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize
                {
                    let info = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>());
                    return Some(Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes()));
                }
                cmsg = libc::CMSG_NXTHDR(header, cmsg);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn bound() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// Reads until `want` datagrams arrived or two seconds passed.
    fn drain(socket: &UdpSocket, want: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut buffers: Vec<Box<[u8]>> = (0..8).map(|_| vec![0; 1500].into_boxed_slice()).collect();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while out.len() < want && Instant::now() < deadline {
            let mut got = Vec::new();
            match recv_many(socket, &mut buffers, &mut got) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("recv: {e}"),
            }
            for (i, (len, from)) in got.into_iter().enumerate() {
                out.push((buffers[i][..len].to_vec(), from));
            }
        }
        out
    }

    /// One call reaches two peers, each datagram whole and from the sender.
    #[test]
    fn send_many_reaches_every_peer_in_order() {
        let (sender, a, b) = (bound(), bound(), bound());
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let batch: Vec<(SocketAddr, &[u8])> =
            payloads.iter().enumerate().map(|(i, p)| (if i % 2 == 0 { to_a } else { to_b }, p.as_slice())).collect();
        assert_eq!(send_many(&sender, &batch).unwrap(), 10);
        let at_a = drain(&a, 5);
        let at_b = drain(&b, 5);
        let want = |parity: usize| -> Vec<Vec<u8>> {
            payloads.iter().enumerate().filter(|(i, _)| i % 2 == parity).map(|(_, p)| p.clone()).collect()
        };
        assert_eq!(at_a.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), want(0));
        assert_eq!(at_b.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), want(1));
        assert!(at_a.iter().chain(&at_b).all(|(_, from)| *from == sender.local_addr().unwrap()));
    }

    /// Segments arrive as separate datagrams, the shorter last one too (or,
    /// where the kernel has no GSO, the call says so and sends nothing).
    #[test]
    fn segments_arrive_as_separate_datagrams() {
        let (sender, peer) = (bound(), bound());
        let segments: Vec<Vec<u8>> = vec![vec![1; 500], vec![2; 500], vec![3; 500], vec![4; 120]];
        let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        if !has_gso(&sender) {
            let e = send_segments(&sender, peer.local_addr().unwrap(), &slices).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            return;
        }
        send_segments(&sender, peer.local_addr().unwrap(), &slices).unwrap();
        let got: Vec<Vec<u8>> = drain(&peer, 4).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, segments);
    }

    /// Segments of mixed sizes are refused before any system call.
    #[test]
    fn uneven_segments_are_refused() {
        let (sender, peer) = (bound(), bound());
        let e = send_segments(&sender, peer.local_addr().unwrap(), &[&[0; 100], &[0; 200]]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    /// One wildcard socket speaks for several loopback addresses: each
    /// datagram leaves from the address it names, and each answer says
    /// which address it came back to.
    #[test]
    fn one_socket_sends_from_and_hears_at_many_local_addresses() {
        let shared = UdpSocket::bind("0.0.0.0:0").unwrap();
        shared.set_nonblocking(true).unwrap();
        report_local_addresses(&shared).unwrap();
        let port = shared.local_addr().unwrap().port();
        let peer = bound();
        let to = peer.local_addr().unwrap();
        let locals: Vec<Ipv4Addr> = (7..12).map(|i| Ipv4Addr::new(127, 3, 0, i)).collect();
        let batch: Vec<(Ipv4Addr, SocketAddr, &[u8])> =
            locals.iter().enumerate().map(|(i, &from)| (from, to, &b"hello"[..i + 1])).collect();
        assert_eq!(send_many_from(&shared, &batch).unwrap(), locals.len());
        let heard = drain(&peer, locals.len());
        let sources: Vec<SocketAddr> = heard.iter().map(|(_, from)| *from).collect();
        let wanted: Vec<SocketAddr> = locals.iter().map(|&ip| SocketAddr::from((ip, port))).collect();
        assert_eq!(sources, wanted);
        for (i, (bytes, from)) in heard.iter().enumerate() {
            assert_eq!(bytes.as_slice(), &b"hello"[..i + 1]);
            peer.send_to(&[i as u8; 3], from).unwrap();
        }
        let mut buffers: Vec<Box<[u8]>> = (0..8).map(|_| vec![0; 64].into_boxed_slice()).collect();
        let mut heard_at: Vec<(usize, SocketAddr, Option<Ipv4Addr>)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while heard_at.len() < locals.len() && Instant::now() < deadline {
            match recv_many_to(&shared, &mut buffers, &mut heard_at) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("recv: {e}"),
            }
        }
        let wanted: Vec<(usize, SocketAddr, Option<Ipv4Addr>)> = locals.iter().map(|&ip| (3, to, Some(ip))).collect();
        assert_eq!(heard_at, wanted);
    }

    /// Nothing waiting: `WouldBlock`, and nothing appended.
    #[test]
    fn an_empty_socket_would_block() {
        let socket = bound();
        let mut buffers: Vec<Box<[u8]>> = vec![vec![0; 64].into_boxed_slice()];
        let mut got = Vec::new();
        let e = recv_many(&socket, &mut buffers, &mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(got.is_empty());
    }
}
