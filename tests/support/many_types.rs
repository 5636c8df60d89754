//! Thousands of distinct event types without writing them out: `Ev<P>` for every path `P` of a
//! binary type tree (`O<..>` / `I<..>` nested `D` deep gives 2^D types), visited one by one
//! through a generic callback, for `tests/bus_many_types.rs`.
#![allow(dead_code)]

use std::marker::PhantomData;

/// The event: zero-sized, one distinct type per path `P`.
pub struct Ev<P>(PhantomData<fn() -> P>);

impl<P> Default for Ev<P> {
    fn default() -> Self {
        Ev(PhantomData)
    }
}

impl<P> Clone for Ev<P> {
    fn clone(&self) -> Self {
        Ev(PhantomData)
    }
}

/// Path steps.
pub struct Root;
pub struct O<P>(PhantomData<fn() -> P>);
pub struct I<P>(PhantomData<fn() -> P>);

/// Something done once per type.
pub trait Visit {
    fn visit<E: Default + Clone + Send + Sync + 'static>(&mut self);
}

/// A tree of types: `each` visits `Ev<path>` for every path below the prefix `P`.
pub trait Tree {
    fn each<P: 'static, V: Visit>(v: &mut V);
}

pub struct Leaf;
pub struct Node<D>(PhantomData<D>);

// Not inlined: one small function per tree level, instead of every visit inlined into one
// huge function that takes the optimiser minutes.
impl Tree for Leaf {
    #[inline(never)]
    fn each<P: 'static, V: Visit>(v: &mut V) {
        v.visit::<Ev<P>>();
    }
}

impl<D: Tree> Tree for Node<D> {
    #[inline(never)]
    fn each<P: 'static, V: Visit>(v: &mut V) {
        D::each::<O<P>, V>(v);
        D::each::<I<P>, V>(v);
    }
}

/// 2^8 = 256 types.
pub type Types256 = Node<Node<Node<Node<Node<Node<Node<Node<Leaf>>>>>>>>;
/// 2^10 = 1024 types.
pub type Types1024 = Node<Node<Types256>>;

/// Visits the types of `T`, in a fixed order.
pub fn each_type<T: Tree, V: Visit>(v: &mut V) {
    T::each::<Root, V>(v);
}
