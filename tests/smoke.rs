use tidings::{Bus, TryRecvError};

#[test]
fn smoke() {
    let bus = Bus::new();
    let mut a = bus.subscribe::<u64>();
    let mut b = bus.subscribe::<u64>();
    for i in 0..1000u64 {
        bus.send(i).unwrap();
    }
    for i in 0..1000u64 {
        assert_eq!(a.try_recv(), Ok(i));
    }
    drop(b);
    assert_eq!(a.try_recv(), Err(TryRecvError::Empty));
    bus.close();
    assert_eq!(a.try_recv(), Err(TryRecvError::Closed));
    b = bus.subscribe::<u64>();
    assert_eq!(b.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn threads() {
    let bus = Bus::new();
    let subs: Vec<_> = (0..4).map(|_| bus.subscribe::<(u32, u64)>()).collect();
    let senders: Vec<_> = (0..4u32)
        .map(|s| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u64 {
                    bus.send((s, i)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            std::thread::spawn(move || {
                let mut next = [0u64; 4];
                let mut seen = Vec::with_capacity(400_000);
                while let Some((s, i)) = sub.recv_blocking() {
                    assert_eq!(next[s as usize], i);
                    next[s as usize] += 1;
                    seen.push((s, i));
                }
                seen
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    bus.close();
    let seqs: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(seqs[0].len(), 400_000);
    for s in &seqs[1..] {
        assert_eq!(s, &seqs[0]);
    }
}
