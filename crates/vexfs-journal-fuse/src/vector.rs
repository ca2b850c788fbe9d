//! Typed journal events for VexFS's vector store.
//!
//! [`VectorEvents`] records one event per vector-store operation. The vector id,
//! dimensions and element type go in the event's typed vector fields; the collection,
//! the result (`errno`), the latency and what only one operation has (`k`, the number
//! of results, the index name, the embedding model) go in the metadata as one JSON
//! object (`docs/emitters.md` lists the keys). A causal parent is the event's parent
//! id, a transaction its transaction id.
//!
//! The types shared with [`crate::graph`] live here: [`Outcome`], [`Emission`] and
//! [`EmitError`].
//!
//! ```
//! use std::time::Duration;
//! use vexfs_journal::{Config, Journal};
//! use vexfs_journal_fuse::vector::{Emission, Outcome, Search, VectorEvents, VectorRef};
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::create(dir.path(), Config::default())?;
//! let vectors = VectorEvents::new(journal.clone()).emission(Emission::Durable);
//! let put = vectors.create("docs", VectorRef::new(42, 768), Outcome::ok(Duration::from_micros(80)))?;
//! let seq = vectors.search(
//!     "docs",
//!     Search::new(768, 10).results(7),
//!     Outcome::ok(Duration::from_micros(350)).parent(put),
//! )?;
//! assert!(journal.durable_seq() > seq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use serde_json::{Map, Value, json};
use vexfs_journal::{Event, EventFlags, Journal, JournalError, VectorOp};

/// Longest name (collection, index, model, graph, label, property key), in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why an operation was not journaled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// A name is empty.
    #[error("{field} is empty")]
    Empty {
        /// Which argument.
        field: &'static str,
    },
    /// A name or text is longer than its limit.
    #[error("{field} is {len} bytes, above the {max}-byte limit")]
    TooLong {
        /// Which argument.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A name holds a control character (NUL, newline, …).
    #[error("{field} holds a control character")]
    ControlChar {
        /// Which argument.
        field: &'static str,
    },
    /// A vector of zero dimensions.
    #[error("{field} is 0 (a vector has at least one dimension)")]
    ZeroDimensions {
        /// Which argument.
        field: &'static str,
    },
    /// A negative errno (give the positive code, as `errno` holds it).
    #[error("errno {0} is negative (give the positive code)")]
    NegativeErrno(i32),
    /// The journal refused the event or failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// When an emitter returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Emission {
    /// Once the journal has accepted the event and assigned its sequence (it reaches
    /// disk with the next group commit): [`Journal::emit`].
    #[default]
    Accepted,
    /// Once the event is on disk and fsynced: [`Journal::emit_durable`].
    Durable,
}

/// How an operation ended, and what caused it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Outcome {
    errno: i32,
    latency: Duration,
    parent: u64,
    tx: u64,
}

impl Outcome {
    /// A success that took `latency`.
    pub const fn ok(latency: Duration) -> Outcome {
        Outcome::failed(0, latency)
    }

    /// A failure with the (positive) `errno` returned to the caller, after `latency`.
    pub const fn failed(errno: i32, latency: Duration) -> Outcome {
        Outcome {
            errno,
            latency,
            parent: 0,
            tx: 0,
        }
    }

    /// The event (its sequence) that caused this operation: the parent id.
    #[must_use]
    pub const fn parent(mut self, seq: u64) -> Self {
        self.parent = seq;
        self
    }

    /// The transaction the operation belongs to.
    #[must_use]
    pub const fn tx(mut self, tx: u64) -> Self {
        self.tx = tx;
        self
    }

    /// Fills the event's typed fields and the metadata keys every event has.
    pub(crate) fn apply(
        &self,
        ev: Event,
        meta: &mut Map<String, Value>,
    ) -> Result<Event, EmitError> {
        if self.errno < 0 {
            return Err(EmitError::NegativeErrno(self.errno));
        }
        meta.insert("errno".into(), json!(self.errno));
        meta.insert(
            "latency_ns".into(),
            json!(u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX)),
        );
        let mut ev = ev.tx(self.tx);
        if self.parent != 0 {
            ev = ev.parent(self.parent).flags(EventFlags::CAUSAL);
        }
        Ok(ev)
    }
}

/// Checks a name: not empty, at most [`MAX_NAME_LEN`] bytes, no control character.
pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), EmitError> {
    if name.is_empty() {
        return Err(EmitError::Empty { field });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(EmitError::TooLong {
            field,
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(EmitError::ControlChar { field });
    }
    Ok(())
}

/// Emits `ev` with `meta` as its metadata, as `emission` says.
pub(crate) fn send(
    journal: &Journal,
    emission: Emission,
    ev: Event,
    meta: Map<String, Value>,
) -> Result<u64, EmitError> {
    let ev = ev.metadata(Value::Object(meta).to_string().into_bytes());
    Ok(match emission {
        Emission::Accepted => journal.emit(ev)?,
        Emission::Durable => journal.emit_durable(ev)?,
    })
}

/// The element type of a vector (`vector_element_type`; codes of VexFS's vector
/// ioctl interface).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Not given (0).
    #[default]
    Unspecified,
    /// 32-bit float (1).
    Float32,
    /// 16-bit float (2).
    Float16,
    /// 8-bit integer (3).
    Int8,
    /// One bit per dimension (4).
    Binary,
    /// Another code, recorded as is.
    Other(u32),
}

impl ElementType {
    /// The code recorded in `vector_element_type`.
    pub fn code(self) -> u32 {
        match self {
            ElementType::Unspecified => 0,
            ElementType::Float32 => 1,
            ElementType::Float16 => 2,
            ElementType::Int8 => 3,
            ElementType::Binary => 4,
            ElementType::Other(code) => code,
        }
    }
}

/// One vector: id, dimensions and element type (float32 unless set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VectorRef {
    /// Vector id.
    pub id: u64,
    /// Number of dimensions (at least 1).
    pub dims: u32,
    /// Element type.
    pub element: ElementType,
}

impl VectorRef {
    /// Vector `id` of `dims` float32 dimensions.
    pub fn new(id: u64, dims: u32) -> VectorRef {
        VectorRef {
            id,
            dims,
            element: ElementType::Float32,
        }
    }

    /// Sets the element type.
    #[must_use]
    pub fn element(mut self, element: ElementType) -> Self {
        self.element = element;
        self
    }

    fn apply(&self, ev: Event) -> Result<Event, EmitError> {
        if self.dims == 0 {
            return Err(EmitError::ZeroDimensions { field: "dims" });
        }
        Ok(ev
            .vector_ref(self.id, self.dims)
            .vector_element_type(self.element.code()))
    }
}

/// The distance a search ranks by (metadata `metric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Euclidean (L2) distance.
    Euclidean,
    /// Cosine similarity.
    Cosine,
    /// Dot product.
    DotProduct,
}

impl Metric {
    /// The name recorded in the metadata.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Euclidean => "euclidean",
            Metric::Cosine => "cosine",
            Metric::DotProduct => "dot_product",
        }
    }
}

/// A nearest-neighbour search: the query vector's shape, `k`, and what came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Search {
    /// Dimensions of the query vector (at least 1).
    pub dims: u32,
    /// Element type of the query vector.
    pub element: ElementType,
    /// Neighbours asked for.
    pub k: u32,
    /// Neighbours returned.
    pub results: u32,
    /// The distance, if known.
    pub metric: Option<Metric>,
}

impl Search {
    /// A search for the `k` nearest neighbours of a float32 vector of `dims`
    /// dimensions (no results until [`Search::results`]).
    pub fn new(dims: u32, k: u32) -> Search {
        Search {
            dims,
            element: ElementType::Float32,
            k,
            results: 0,
            metric: None,
        }
    }

    /// Sets the number of neighbours returned.
    #[must_use]
    pub fn results(mut self, results: u32) -> Self {
        self.results = results;
        self
    }

    /// Sets the query vector's element type.
    #[must_use]
    pub fn element(mut self, element: ElementType) -> Self {
        self.element = element;
        self
    }

    /// Sets the distance.
    #[must_use]
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = Some(metric);
        self
    }
}

/// Emits the journal events of a vector store's operations.
#[derive(Clone, Debug)]
pub struct VectorEvents {
    journal: Journal,
    emission: Emission,
}

impl VectorEvents {
    /// Events into `journal`, each returned as soon as it is accepted.
    pub fn new(journal: Journal) -> VectorEvents {
        VectorEvents {
            journal,
            emission: Emission::Accepted,
        }
    }

    /// Sets when each method returns.
    #[must_use]
    pub fn emission(mut self, emission: Emission) -> Self {
        self.emission = emission;
        self
    }

    /// The journal written to.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The event of `op` in `collection` with its metadata started.
    fn start(
        &self,
        op: VectorOp,
        collection: &str,
        outcome: &Outcome,
    ) -> Result<(Event, Map<String, Value>), EmitError> {
        check_name("collection", collection)?;
        let mut meta = Map::new();
        meta.insert("collection".into(), json!(collection));
        let ev = outcome.apply(Event::vector(op), &mut meta)?;
        Ok((ev, meta))
    }

    fn send(&self, ev: Event, meta: Map<String, Value>) -> Result<u64, EmitError> {
        send(&self.journal, self.emission, ev, meta)
    }

    /// `vector.create`: `vector` was inserted into `collection`. Returns the sequence.
    pub fn create(
        &self,
        collection: &str,
        vector: VectorRef,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        let (ev, meta) = self.start(VectorOp::Create, collection, &outcome)?;
        self.send(vector.apply(ev)?, meta)
    }

    /// `vector.update`: `vector` of `collection` was replaced.
    pub fn update(
        &self,
        collection: &str,
        vector: VectorRef,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        let (ev, meta) = self.start(VectorOp::Update, collection, &outcome)?;
        self.send(vector.apply(ev)?, meta)
    }

    /// `vector.delete`: vector `id` was removed from `collection`.
    pub fn delete(&self, collection: &str, id: u64, outcome: Outcome) -> Result<u64, EmitError> {
        let (ev, meta) = self.start(VectorOp::Delete, collection, &outcome)?;
        self.send(ev.vector_id(id), meta)
    }

    /// `vector.search`: a nearest-neighbour search in `collection` (metadata `k`,
    /// `results`, `metric`).
    pub fn search(
        &self,
        collection: &str,
        search: Search,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        if search.dims == 0 {
            return Err(EmitError::ZeroDimensions { field: "dims" });
        }
        let (ev, mut meta) = self.start(VectorOp::Search, collection, &outcome)?;
        meta.insert("k".into(), json!(search.k));
        meta.insert("results".into(), json!(search.results));
        if let Some(metric) = search.metric {
            meta.insert("metric".into(), json!(metric.name()));
        }
        let ev = ev
            .vector_dimensions(search.dims)
            .vector_element_type(search.element.code());
        self.send(ev, meta)
    }

    /// `vector.index`: `index` of `collection` was built or rebuilt over `vectors`
    /// vectors of `dims` dimensions (metadata `index`, `vectors`).
    pub fn index(
        &self,
        collection: &str,
        index: &str,
        vectors: u64,
        dims: u32,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        check_name("index", index)?;
        if dims == 0 {
            return Err(EmitError::ZeroDimensions { field: "dims" });
        }
        let (ev, mut meta) = self.start(VectorOp::Index, collection, &outcome)?;
        meta.insert("index".into(), json!(index));
        meta.insert("vectors".into(), json!(vectors));
        self.send(ev.vector_dimensions(dims), meta)
    }

    /// `vector.embed`: `model` computed `vector` of `collection` from `input_bytes`
    /// bytes of content (metadata `model`, `input_bytes`).
    pub fn embed(
        &self,
        collection: &str,
        vector: VectorRef,
        model: &str,
        input_bytes: u64,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        check_name("model", model)?;
        let (ev, mut meta) = self.start(VectorOp::Embed, collection, &outcome)?;
        meta.insert("model".into(), json!(model));
        meta.insert("input_bytes".into(), json!(input_bytes));
        self.send(vector.apply(ev)?, meta)
    }

    /// `vector.similarity`: vector `id` of `collection` was compared with `other`
    /// (metadata `other`, `metric`).
    pub fn similarity(
        &self,
        collection: &str,
        id: u64,
        other: u64,
        metric: Option<Metric>,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        let (ev, mut meta) = self.start(VectorOp::Similarity, collection, &outcome)?;
        meta.insert("other".into(), json!(other));
        if let Some(metric) = metric {
            meta.insert("metric".into(), json!(metric.name()));
        }
        self.send(ev.vector_id(id), meta)
    }

    /// `vector.cluster`: `vectors` vectors of `collection` were grouped into
    /// `clusters` clusters (metadata `vectors`, `clusters`).
    pub fn cluster(
        &self,
        collection: &str,
        vectors: u64,
        clusters: u32,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        let (ev, mut meta) = self.start(VectorOp::Cluster, collection, &outcome)?;
        meta.insert("vectors".into(), json!(vectors));
        meta.insert("clusters".into(), json!(clusters));
        self.send(ev, meta)
    }
}
