//! A TCP relay between one gateway node and Redis that the test can cut:
//! while cut, every relayed connection is shut down and new ones are
//! accepted but never answered (a half-open path: the client's connect
//! succeeds and then nothing comes back), until the cut ends. A real
//! network failure on the node's Redis connections only, while the other
//! nodes keep theirs.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) struct Cut {
    pub(crate) port: u16,
    cut: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    /// Every socket of the relay (client and upstream sides).
    sockets: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cut {
    /// Relays 127.0.0.1:`port` (the returned one) to 127.0.0.1:`upstream`.
    pub(crate) fn start(upstream: u16) -> Cut {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, s, st) = (cut.clone(), sockets.clone(), stopped.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if let Ok(clone) = client.try_clone() {
                    s.lock().unwrap().push(clone);
                }
                if c.load(Ordering::SeqCst) {
                    // Held open, never answered: closed when the cut ends.
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                if let Ok(clone) = server.try_clone() {
                    s.lock().unwrap().push(clone);
                }
                pump(&client, &server);
                pump(&server, &client);
            }
        });
        Cut {
            port,
            cut,
            stopped,
            sockets,
        }
    }

    /// Cuts every connection; new ones hang until [`Cut::restore`].
    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.close_all();
    }

    /// Ends the cut: the held connections close, new ones are relayed.
    pub(crate) fn restore(&self) {
        self.close_all();
        self.cut.store(false, Ordering::SeqCst);
    }

    fn close_all(&self) {
        for s in self.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.close_all();
        // Wake the accept loop so that its thread ends.
        let _ = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        );
    }
}

/// Copies `from` to `to` on a thread until either side closes.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
