//! A small reader and writer for the subset of Python's pickle format that numpy data and
//! PyTorch checkpoints use.
//!
//! Why hand-written: the MNIST pickle and the authors' Colored-MNIST `.npy` files hold numpy
//! arrays, which pickle as calls to `numpy.core.multiarray._reconstruct` followed by `BUILD`;
//! PyTorch's `.pth` files hold tensors as calls on persistent references to storages. The
//! pickle crates on crates.io (serde-pickle) reject such globals and persistent references or
//! replace them by `None`, which loses the data. The reader below runs the pickle machine for
//! protocols 2–4 but never calls anything: a call is kept as data ([`Value::Call`]) and
//! interpreted by `numpy.rs` or `torch_file.rs`. One call is read as what it builds:
//! `collections.OrderedDict()` (every PyTorch state dict) becomes a [`Value::Dict`], which keeps
//! insertion order; the attributes a `BUILD` then gives it (a state dict's `_metadata`) are
//! dropped.

use std::collections::HashMap;
use std::rc::Rc;
use thiserror::Error;

/// Why a byte string is not a pickle this reader accepts.
#[derive(Debug, Error, PartialEq)]
pub enum PickleError {
    /// The input ended before the `STOP` opcode or inside an argument.
    #[error("pickle data is truncated at byte {0}")]
    Truncated(usize),
    /// An opcode outside the supported subset.
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {pos}")]
    UnsupportedOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its offset in the input.
        pos: usize,
    },
    /// The pickle nests containers deeper than [`MAX_DEPTH`], or builds far more data than its
    /// size explains (copies through the memo): a hostile or broken file, refused before it
    /// exhausts the stack or memory.
    #[error("pickle at byte {pos} exceeds a limit: {what}")]
    Limit {
        /// Offset of the opcode that crossed the limit.
        pos: usize,
        /// Which limit.
        what: &'static str,
    },
    /// The pickle is structurally wrong (stack underflow, bad memo reference, …).
    #[error("malformed pickle at byte {pos}: {what}")]
    Malformed {
        /// Offset of the offending opcode.
        pos: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// A Python object as the pickle describes it. Calls are recorded, never executed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// A Python int that fits in an i64.
    Int(i64),
    /// A Python float.
    Float(f64),
    /// Raw bytes, and Python 2 `str` (which numpy uses for array data).
    Bytes(Rc<Vec<u8>>),
    /// A text string.
    Str(String),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name`.
    Global {
        /// Module path, e.g. `numpy.core.multiarray`.
        module: String,
        /// Attribute name, e.g. `_reconstruct`.
        name: String,
    },
    /// A persistent reference (`BINPERSID`): an object the pickle names but does not hold, such
    /// as a PyTorch storage, whose bytes live elsewhere in the file.
    Persistent(Box<Value>),
    /// `callable(*args)`, then `__setstate__(state)` if a `BUILD` followed.
    Call {
        /// What was called.
        callable: Box<Value>,
        /// The argument tuple.
        args: Box<Value>,
        /// The state passed by `BUILD`, if any.
        state: Option<Box<Value>>,
    },
}

impl Value {
    /// The bytes of a `Bytes` value; the Latin-1 bytes of a `Str` value (how numpy reads Python 2
    /// strings that were decoded with `encoding='latin1'`); or the bytes of
    /// `_codecs.encode(text, 'latin1')`, which is how Python 3 pickles `bytes` with protocol 2.
    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Value::Bytes(b) => Some(b.to_vec()),
            Value::Str(s) => s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect(),
            Value::Call {
                callable,
                args,
                state: None,
            } => match (callable.as_ref(), args.as_ref()) {
                (Value::Global { module, name }, Value::Tuple(args))
                    if module == "_codecs" && name == "encode" =>
                {
                    match args.as_slice() {
                        [text @ Value::Str(_), Value::Str(codec)]
                            if matches!(codec.as_str(), "latin1" | "latin-1") =>
                        {
                            text.as_bytes()
                        }
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The text of a `Str` value, or of a `Bytes` value that is ASCII.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) if b.is_ascii() => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Containers nested deeper than this are refused (numpy's pickles nest about five deep).
pub const MAX_DEPTH: u32 = 200;

/// Bytes of data a pickle may build per byte of input (plus [`BUILD_BUDGET_BASE`]): memo copies
/// let a few hundred bytes describe exponentially large data.
const BUILD_BUDGET_PER_BYTE: u64 = 64;

/// Bytes of data any pickle may build.
const BUILD_BUDGET_BASE: u64 = 1 << 20;

/// The cost of one value beside its string bytes.
const NODE_BYTES: u64 = 32;

/// How deep and how large a value is, tracked while it is built.
#[derive(Debug, Clone, Copy)]
struct Size {
    depth: u32,
    bytes: u64,
}

impl Size {
    /// The size of a value holding `items`.
    fn of_container<'s>(items: impl IntoIterator<Item = &'s Size>) -> Size {
        items.into_iter().fold(
            Size {
                depth: 1,
                bytes: NODE_BYTES,
            },
            |acc, s| Size {
                depth: acc.depth.max(s.depth + 1),
                bytes: acc.bytes + s.bytes,
            },
        )
    }
}

/// Stack entries: values with their sizes, plus the marks that `MARK` pushes.
enum Slot {
    Mark,
    Value(Value, Size),
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// Where the current protocol-4 frame ends; no read may cross it.
    frame_end: Option<usize>,
    stack: Vec<Slot>,
    memo: HashMap<u32, (Value, Size)>,
    opcode_pos: usize,
    /// Bytes of data built so far (new values and memo copies), and the limit.
    built: u64,
    budget: u64,
}

impl<'a> Machine<'a> {
    fn malformed(&self, what: &'static str) -> PickleError {
        PickleError::Malformed {
            pos: self.opcode_pos,
            what,
        }
    }

    fn limit(&self, what: &'static str) -> PickleError {
        PickleError::Limit {
            pos: self.opcode_pos,
            what,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or(PickleError::Truncated(self.input.len()))?;
        if let Some(frame_end) = self.frame_end {
            if end > frame_end {
                return Err(self.malformed("a read crosses the end of its frame"));
            }
            if end == frame_end {
                self.frame_end = None;
            }
        }
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Counts `bytes` of newly built data against the budget.
    fn charge(&mut self, bytes: u64) -> Result<(), PickleError> {
        self.built = self.built.saturating_add(bytes);
        if self.built > self.budget {
            return Err(self.limit("it builds far more data than its size explains"));
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn u64_len(&mut self) -> Result<usize, PickleError> {
        let b = self.take(8)?;
        usize::try_from(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .map_err(|_| PickleError::Truncated(self.input.len()))
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated(self.input.len()))?;
        let text =
            std::str::from_utf8(&rest[..end]).map_err(|_| self.malformed("non-UTF-8 name"))?;
        self.pos += end + 1;
        Ok(text)
    }

    fn text(&mut self, n: usize) -> Result<String, PickleError> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.malformed("invalid UTF-8 string"))
    }

    /// Pushes a value read from the input (a scalar, a string, a global).
    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        let text = match &v {
            Value::Bytes(b) => b.len(),
            Value::Str(s) => s.len(),
            Value::Global { module, name } => module.len() + name.len(),
            _ => 0,
        };
        let size = Size {
            depth: 1,
            bytes: NODE_BYTES + text as u64,
        };
        self.charge(size.bytes)?;
        self.stack.push(Slot::Value(v, size));
        Ok(())
    }

    /// Pushes a new container of `items` built by `make`.
    fn push_container(
        &mut self,
        items: Vec<(Value, Size)>,
        make: impl FnOnce(Vec<Value>) -> Value,
    ) -> Result<(), PickleError> {
        let size = Size::of_container(items.iter().map(|(_, s)| s));
        if size.depth > MAX_DEPTH {
            return Err(self.limit("containers nest too deeply"));
        }
        self.charge(NODE_BYTES)?;
        let value = make(items.into_iter().map(|(v, _)| v).collect());
        self.stack.push(Slot::Value(value, size));
        Ok(())
    }

    fn pop(&mut self) -> Result<(Value, Size), PickleError> {
        match self.stack.pop() {
            Some(Slot::Value(v, size)) => Ok((v, size)),
            Some(Slot::Mark) => Err(self.malformed("unexpected mark")),
            None => Err(self.malformed("stack underflow")),
        }
    }

    /// The top value, after growing its size by `items` (which it is about to take in).
    fn top_growing(&mut self, items: &[(Value, Size)]) -> Result<&mut Value, PickleError> {
        let grown = items.iter().fold(None::<Size>, |acc, (_, s)| {
            let acc = acc.unwrap_or(Size { depth: 0, bytes: 0 });
            Some(Size {
                depth: acc.depth.max(s.depth + 1),
                bytes: acc.bytes + s.bytes,
            })
        });
        let opcode_pos = self.opcode_pos;
        match self.stack.last_mut() {
            Some(Slot::Value(v, size)) => {
                if let Some(g) = grown {
                    size.depth = size.depth.max(g.depth);
                    size.bytes += g.bytes;
                    if size.depth > MAX_DEPTH {
                        return Err(PickleError::Limit {
                            pos: opcode_pos,
                            what: "containers nest too deeply",
                        });
                    }
                }
                Ok(v)
            }
            _ => Err(PickleError::Malformed {
                pos: opcode_pos,
                what: "stack underflow",
            }),
        }
    }

    /// Pops everything down to the most recent mark.
    fn pop_to_mark(&mut self) -> Result<Vec<(Value, Size)>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| self.malformed("missing mark"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|s| match s {
                Slot::Value(v, size) => (v, size),
                Slot::Mark => unreachable!("marks above the last mark"),
            })
            .collect())
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<(Value, Size)>, PickleError> {
        let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>, _>>()?;
        items.reverse();
        Ok(items)
    }

    /// Pushes a copy of memo entry `key`.
    fn memo_get(&mut self, key: u32) -> Result<(), PickleError> {
        let (v, size) = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.malformed("reference to an unknown memo entry"))?;
        self.charge(size.bytes)?;
        self.stack.push(Slot::Value(v, size));
        Ok(())
    }

    /// Stores a copy of the top value as memo entry `key`.
    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let entry = match self.stack.last() {
            Some(Slot::Value(v, size)) => (v.clone(), *size),
            _ => return Err(self.malformed("stack underflow")),
        };
        self.charge(entry.1.bytes)?;
        self.memo.insert(key, entry);
        Ok(())
    }

    fn append(&mut self, items: Vec<(Value, Size)>) -> Result<(), PickleError> {
        let top = self.top_growing(&items)?;
        match top {
            Value::List(list) => {
                list.extend(items.into_iter().map(|(v, _)| v));
                Ok(())
            }
            _ => Err(self.malformed("APPEND to a non-list")),
        }
    }

    fn set_items(&mut self, items: Vec<(Value, Size)>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of dict items"));
        }
        let top = self.top_growing(&items)?;
        match top {
            Value::Dict(dict) => {
                let mut it = items.into_iter().map(|(v, _)| v);
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
                Ok(())
            }
            _ => Err(self.malformed("SETITEM on a non-dict")),
        }
    }

    fn run(mut self) -> Result<(Value, usize), PickleError> {
        loop {
            self.opcode_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.malformed("unknown protocol version"));
                    }
                }
                0x95 => {
                    // FRAME: the next n bytes hold whole opcodes, and no read may cross them.
                    if self.frame_end.is_some() {
                        return Err(self.malformed("a frame starts inside a frame"));
                    }
                    let n = self.u64_len()?;
                    let end = self
                        .pos
                        .checked_add(n)
                        .filter(|&e| e <= self.input.len())
                        .ok_or(PickleError::Truncated(self.input.len()))?;
                    self.frame_end = (end > self.pos).then_some(end);
                }
                b'.' => {
                    // STOP
                    let (v, _) = self.pop()?;
                    return Ok((v, self.pos));
                }
                b'(' => self.stack.push(Slot::Mark),
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)))?;
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    if n > 8 {
                        return Err(self.malformed("integer too large"));
                    }
                    let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(bytes);
                    self.push(Value::Int(i64::from_le_bytes(buf)))?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.push(Value::Float(f64::from_be_bytes(b.try_into().expect("8"))))?;
                }
                b'U' | b'C' => {
                    // SHORT_BINSTRING (Python 2 str) / SHORT_BINBYTES
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::new(b.to_vec())))?;
                }
                b'T' | b'B' => {
                    // BINSTRING / BINBYTES
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::new(b.to_vec())))?;
                }
                0x8e => {
                    // BINBYTES8
                    let n = self.u64_len()?;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::new(b.to_vec())))?;
                }
                0x8c => {
                    // SHORT_BINUNICODE
                    let n = usize::from(self.u8()?);
                    let s = self.text(n)?;
                    self.push(Value::Str(s))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.text(n)?;
                    self.push(Value::Str(s))?;
                }
                0x8d => {
                    let n = self.u64_len()?;
                    let s = self.text(n)?;
                    self.push(Value::Str(s))?;
                }
                b')' => self.push_container(Vec::new(), Value::Tuple)?,
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push_container(items, Value::Tuple)?;
                }
                0x85..=0x87 => {
                    // TUPLE1..TUPLE3
                    let items = self.pop_n(usize::from(op - 0x84))?;
                    self.push_container(items, Value::Tuple)?;
                }
                b']' => self.push_container(Vec::new(), Value::List)?,
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push_container(items, Value::List)?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push_container(Vec::new(), |_| Value::Dict(Vec::new()))?,
                b's' => {
                    let items = self.pop_n(2)?;
                    self.set_items(items)?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.push(Value::Global { module, name })?;
                }
                0x93 => {
                    // STACK_GLOBAL
                    let (name, _) = self.pop()?;
                    let (module, _) = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => {
                            self.push(Value::Global { module, name })?
                        }
                        _ => return Err(self.malformed("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if is_ordered_dict(&callable.0) && args.0 == Value::Tuple(Vec::new()) {
                        self.push_container(Vec::new(), |_| Value::Dict(Vec::new()))?;
                        continue;
                    }
                    self.push_container(vec![callable, args], |mut parts| {
                        let args = parts.pop().expect("two parts");
                        let callable = parts.pop().expect("two parts");
                        Value::Call {
                            callable: Box::new(callable),
                            args: Box::new(args),
                            state: None,
                        }
                    })?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let items = [state];
                    match self.top_growing(&items)? {
                        Value::Call { state: slot, .. } if slot.is_none() => {
                            let [(state, _)] = items;
                            *slot = Some(Box::new(state))
                        }
                        // An OrderedDict's attributes, which nothing here reads.
                        Value::Dict(_) => {}
                        _ => return Err(self.malformed("BUILD on an object that cannot take it")),
                    }
                }
                b'q' => {
                    let key = u32::from(self.u8()?);
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).expect("memo size fits u32");
                    self.memo_put(key)?;
                }
                b'h' => {
                    let key = u32::from(self.u8()?);
                    self.memo_get(key)?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(key)?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'Q' => {
                    // BINPERSID
                    let pid = self.pop()?;
                    self.push_container(vec![pid], |mut parts| {
                        Value::Persistent(Box::new(parts.pop().expect("one part")))
                    })?;
                }
                _ => {
                    return Err(PickleError::UnsupportedOpcode {
                        opcode: op,
                        pos: self.opcode_pos,
                    });
                }
            }
        }
    }
}

/// Whether `v` names `collections.OrderedDict`.
fn is_ordered_dict(v: &Value) -> bool {
    matches!(v, Value::Global { module, name } if module == "collections" && name == "OrderedDict")
}

/// Reads one pickled object from `input`. Bytes after `STOP` are ignored, as Python does.
pub fn unpickle(input: &[u8]) -> Result<Value, PickleError> {
    unpickle_prefix(input).map(|(value, _)| value)
}

/// Reads the pickled object at the start of `input`; returns it and the number of bytes it
/// took (through its `STOP`), for files that hold several pickles in a row.
pub fn unpickle_prefix(input: &[u8]) -> Result<(Value, usize), PickleError> {
    Machine {
        input,
        pos: 0,
        frame_end: None,
        stack: Vec::new(),
        memo: HashMap::new(),
        opcode_pos: 0,
        built: 0,
        budget: BUILD_BUDGET_BASE + BUILD_BUDGET_PER_BYTE * input.len() as u64,
    }
    .run()
}

/// Writes values as a protocol-2 pickle that Python 3 loads with any `encoding` argument.
///
/// Byte strings use `BINBYTES` (not Python 2's `BINSTRING`), so `np.load(..., allow_pickle=True)`
/// works both with and without `encoding='latin1'`.
pub fn pickle(value: &Value) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    write_value(&mut out, value);
    out.push(b'.');
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(v) => match i32::try_from(*v) {
            Ok(v) => {
                out.push(b'J');
                out.extend_from_slice(&v.to_le_bytes());
            }
            Err(_) => {
                out.extend_from_slice(&[0x8a, 8]);
                out.extend_from_slice(&v.to_le_bytes());
            }
        },
        Value::Float(v) => {
            out.push(b'G');
            out.extend_from_slice(&v.to_be_bytes());
        }
        Value::Bytes(b) => {
            out.push(b'B');
            out.extend_from_slice(&u32::try_from(b.len()).expect("< 4 GiB").to_le_bytes());
            out.extend_from_slice(b);
        }
        Value::Str(s) => {
            out.push(b'X');
            out.extend_from_slice(&u32::try_from(s.len()).expect("< 4 GiB").to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Tuple(items) => {
            out.push(b'(');
            items.iter().for_each(|v| write_value(out, v));
            out.push(b't');
        }
        Value::List(items) => {
            out.push(b'(');
            items.iter().for_each(|v| write_value(out, v));
            out.push(b'l');
        }
        Value::Dict(items) => {
            out.push(b'}');
            if !items.is_empty() {
                out.push(b'(');
                for (k, v) in items {
                    write_value(out, k);
                    write_value(out, v);
                }
                out.push(b'u');
            }
        }
        Value::Global { module, name } => {
            out.push(b'c');
            out.extend_from_slice(module.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        Value::Persistent(pid) => {
            write_value(out, pid);
            out.push(b'Q');
        }
        Value::Call {
            callable,
            args,
            state,
        } => {
            write_value(out, callable);
            write_value(out, args);
            out.push(b'R');
            if let Some(state) = state {
                write_value(out, state);
                out.push(b'b');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Value {
        Value::Dict(vec![
            (
                Value::Str("key".into()),
                Value::Tuple(vec![Value::Int(-1), Value::Int(70_000), Value::None]),
            ),
            (
                Value::Str("data".into()),
                Value::Call {
                    callable: Box::new(Value::Global {
                        module: "numpy".into(),
                        name: "dtype".into(),
                    }),
                    args: Box::new(Value::Tuple(vec![Value::Bytes(Rc::new(vec![0, 255]))])),
                    state: Some(Box::new(Value::List(vec![
                        Value::Bool(true),
                        Value::Float(0.5),
                        Value::Int(1 << 40),
                    ]))),
                },
            ),
        ])
    }

    #[test]
    fn round_trip() {
        assert_eq!(unpickle(&pickle(&sample())).unwrap(), sample());
    }

    #[test]
    fn reads_python_2_strings_and_the_memo() {
        // PROTO 2, SHORT_BINSTRING 'ab', BINPUT 0, BINGET 0, TUPLE2, STOP.
        let v = unpickle(b"\x80\x02U\x02abq\x00h\x00\x86.").unwrap();
        let ab = Value::Bytes(Rc::new(b"ab".to_vec()));
        assert_eq!(v, Value::Tuple(vec![ab.clone(), ab]));
    }

    #[test]
    fn reads_protocol_4_framing_and_stack_global() {
        // pickle.dumps(numpy.dtype, protocol=4) by CPython: FRAME, SHORT_BINUNICODE x2, MEMOIZE,
        // STACK_GLOBAL.
        let bytes = b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94.";
        assert_eq!(
            unpickle(bytes).unwrap(),
            Value::Global {
                module: "numpy".into(),
                name: "dtype".into()
            }
        );
    }

    #[test]
    fn frame_lengths_are_honored() {
        let good = b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00\x8c\x05numpy\x94\x8c\x05dtype\x94\x93\x94.";
        // One byte short: the frame claims more than the file holds.
        assert!(matches!(
            unpickle(&good[..good.len() - 1]),
            Err(PickleError::Truncated(_))
        ));
        // A frame that ends inside an opcode's argument.
        let mut short = good.to_vec();
        short[3] = 0x03;
        assert!(matches!(
            unpickle(&short),
            Err(PickleError::Malformed { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        // None, then TUPLE1 100,000 times: a tuple nested 100,001 deep (about 100 KB).
        let mut bytes = b"\x80\x02N".to_vec();
        bytes.extend(std::iter::repeat_n(0x85u8, 100_000));
        bytes.push(b'.');
        assert!(matches!(unpickle(&bytes), Err(PickleError::Limit { .. })));
        // Just under the limit is fine.
        let mut ok = b"\x80\x02N".to_vec();
        ok.extend(std::iter::repeat_n(0x85u8, (MAX_DEPTH - 1) as usize));
        ok.push(b'.');
        assert!(unpickle(&ok).is_ok());
    }

    #[test]
    fn memo_copies_cannot_outgrow_the_file() {
        // x = None; then 64 times x = (x, x) through the memo: 2^64 leaves from 327 bytes.
        let mut bytes = b"\x80\x02Nq\x00".to_vec();
        for _ in 0..64 {
            bytes.extend_from_slice(b"h\x00h\x00\x86q\x00");
        }
        bytes.push(b'.');
        assert!(matches!(unpickle(&bytes), Err(PickleError::Limit { .. })));
    }

    #[test]
    fn latin1_strings_give_their_bytes() {
        assert_eq!(
            Value::Str("\u{ff}a".into()).as_bytes(),
            Some(vec![255, b'a'])
        );
        assert_eq!(Value::Str("\u{100}".into()).as_bytes(), None);
    }

    #[test]
    fn truncation_is_an_error() {
        let bytes = pickle(&sample());
        for cut in 0..bytes.len() {
            assert!(unpickle(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = unpickle(&bytes);
        }

        #[test]
        fn mutated_pickles_never_panic(idx in 0usize..1000, byte in any::<u8>()) {
            let mut bytes = pickle(&sample());
            let i = idx % bytes.len();
            bytes[i] = byte;
            let _ = unpickle(&bytes);
        }
    }
}
