//! A TCP proxy on loopback that a test can kill, stall, or arm to lose a reply, to make an
//! endpoint die, hang or break mid-run or mid-statement.
//!
//! Client-to-server bytes are read as MySQL packets (3-byte length, sequence id, payload), so a
//! fault can be tied to one command: [`Proxy::lose_reply_to`] forwards the first packet whose
//! payload contains a pattern (a `COMMIT`, a marker value bound in an `INSERT`), lets the server
//! execute it, swallows the server's reply and closes the link. That is the exact situation of a
//! write whose outcome the client cannot know: it was applied, the client saw only a broken
//! connection.
//!
//! [`Proxy::stall`] is a server that stopped answering without closing anything (SIGSTOP, a
//! black-holed network path): connections stay open and new ones are accepted, but no byte moves
//! in either direction until [`Proxy::resume`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// A reply to lose or hold: the `skip`+1-th client packet containing `pattern`.
#[derive(Debug, Clone)]
struct LoseReply {
    pattern: Vec<u8>,
    skip: u32,
    /// Hold the reply by stalling the whole proxy instead of cutting the link.
    stall: bool,
}

#[derive(Debug, Default)]
struct Faults {
    lose_reply: Option<LoseReply>,
    /// Replies lost so far.
    lost: u32,
}

/// Forwards connections from a local port to `upstream` until [`Proxy::kill`] or drop, which
/// closes the listener and every forwarded connection (like a server that crashed).
#[derive(Debug)]
pub struct Proxy {
    /// The proxy's listening address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    faults: Arc<Mutex<Faults>>,
    stalled: Arc<watch::Sender<bool>>,
    links: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        Proxy::start_at("127.0.0.1:0".parse().expect("a socket address"), upstream).await
    }

    /// Starts forwarding from `addr`, e.g. the address of a killed proxy: the same endpoint
    /// coming back.
    pub async fn start_at(addr: SocketAddr, upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Mutex::new(Faults::default()));
        let (stalled, gate) = watch::channel(false);
        let stalled = Arc::new(stalled);
        let (shared, stall) = (faults.clone(), stalled.clone());
        let links = Arc::new(AtomicUsize::new(0));
        let counter = links.clone();
        let task = tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let faults = shared.clone();
                let mut gate = gate.clone();
                let stall = stall.clone();
                let open = Open::count(&counter);
                tasks.spawn(async move {
                    let _open = open;
                    // A stalled server accepts (the kernel does) but never greets.
                    if !flowing(&mut gate).await {
                        return;
                    }
                    if let Ok(outbound) = TcpStream::connect(&upstream).await {
                        link(inbound, outbound, Fault { faults, stall }, gate).await;
                    }
                });
            }
        });
        Ok(Proxy {
            addr,
            task,
            faults,
            stalled,
            links,
        })
    }

    /// Client connections open through the proxy right now.
    pub fn links(&self) -> usize {
        self.links.load(Ordering::SeqCst)
    }

    /// Stops every byte in both directions, keeping all connections open.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Lets bytes flow again after [`Proxy::stall`].
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }

    /// Arms the proxy: the `skip`+1-th client packet (on any link) whose payload contains
    /// `pattern` reaches the server, its reply does not reach the client, and that link is cut.
    /// Once only; arm again for another.
    pub fn lose_reply_to(&self, pattern: &[u8], skip: u32) {
        lock(&self.faults).lose_reply = Some(LoseReply {
            pattern: pattern.to_vec(),
            skip,
            stall: false,
        });
    }

    /// Arms the proxy: the first client packet whose payload contains `pattern` reaches the
    /// server, and the proxy stalls (see [`Proxy::stall`]) before its reply can pass: a server
    /// that executed the command and then stopped answering. Counts as a lost reply.
    pub fn stall_reply_to(&self, pattern: &[u8]) {
        lock(&self.faults).lose_reply = Some(LoseReply {
            pattern: pattern.to_vec(),
            skip: 0,
            stall: true,
        });
    }

    /// How many replies were lost so far.
    pub fn replies_lost(&self) -> u32 {
        lock(&self.faults).lost
    }

    /// Stops accepting and cuts every open connection.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a link needs to fire the armed fault.
struct Fault {
    faults: Arc<Mutex<Faults>>,
    stall: Arc<watch::Sender<bool>>,
}

/// Whether this packet is the one whose reply is to be lost (counts down `skip`), and if so
/// whether the reply is held by a stall (`Some(true)`) or lost with the link (`Some(false)`).
fn take_fault(faults: &Mutex<Faults>, payload: &[u8]) -> Option<bool> {
    let mut faults = lock(faults);
    let rule = faults.lose_reply.as_mut()?;
    if !payload
        .windows(rule.pattern.len().max(1))
        .any(|w| w == rule.pattern.as_slice())
    {
        return None;
    }
    if rule.skip > 0 {
        rule.skip -= 1;
        return None;
    }
    let stall = rule.stall;
    faults.lose_reply = None;
    faults.lost += 1;
    Some(stall)
}

/// Counts one open client connection for as long as it lives (also when its task is aborted).
struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(counter: &Arc<AtomicUsize>) -> Open {
        counter.fetch_add(1, Ordering::SeqCst);
        Open(counter.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits while the proxy is stalled; false once the proxy is gone.
async fn flowing(gate: &mut watch::Receiver<bool>) -> bool {
    gate.wait_for(|stalled| !stalled).await.is_ok()
}

/// One client connection. Ends (closing both sockets) when either side closes or a reply is lost.
async fn link(inbound: TcpStream, outbound: TcpStream, fault: Fault, gate: watch::Receiver<bool>) {
    let (client_rx, client_tx) = inbound.into_split();
    let (server_rx, server_tx) = outbound.into_split();
    let (armed_tx, armed_rx) = watch::channel(false);
    tokio::select! {
        _ = upstream(client_rx, server_tx, fault, armed_tx, gate.clone()) => {}
        _ = downstream(server_rx, client_tx, armed_rx, gate) => {}
    }
}

/// Client to server, packet by packet, arming the reply fault before a matching packet leaves
/// (so its reply cannot slip through).
async fn upstream(
    mut client: tokio::net::tcp::OwnedReadHalf,
    mut server: tokio::net::tcp::OwnedWriteHalf,
    fault: Fault,
    armed: watch::Sender<bool>,
    mut gate: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut header = [0u8; 4];
    loop {
        client.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        client.read_exact(&mut payload).await?;
        if !flowing(&mut gate).await {
            return Ok(());
        }
        // Set before the packet leaves, so its reply cannot slip through.
        match take_fault(&fault.faults, &payload) {
            Some(true) => {
                fault.stall.send_replace(true);
            }
            Some(false) => {
                let _ = armed.send(true);
            }
            None => {}
        }
        server.write_all(&header).await?;
        server.write_all(&payload).await?;
    }
}

/// Server to client; once armed, the next reply is swallowed and the link ends.
async fn downstream(
    mut server: tokio::net::tcp::OwnedReadHalf,
    mut client: tokio::net::tcp::OwnedWriteHalf,
    mut armed: watch::Receiver<bool>,
    mut gate: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 || *armed.borrow_and_update() {
            // Closed, or the server executed the command and answered: the client never hears it.
            return Ok(());
        }
        if !flowing(&mut gate).await {
            return Ok(());
        }
        client.write_all(&buf[..n]).await?;
    }
}
