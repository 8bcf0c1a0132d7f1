"""Functions found in C, C++ and Rust files, their documentation, names and filter reasons.

The snippets imitate real code bases (Doxygen, kernel-doc, gtk-doc, rustdoc); the last tests
run the extractor over real trees on this machine (libstdc++ headers, kernel UAPI headers,
the Rust standard library) when they are installed.
"""

from __future__ import annotations

import glob
import html
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.sources.functions import extract_functions, filter_reason
from tests.support import missing


def functions(language: str, text: str) -> dict[str, dict]:
    """func_name -> function dict, with its filter reason under ``reason``."""
    out = {}
    for fn in extract_functions(language, text):
        assert fn["func_name"] not in out, f"duplicate {fn['func_name']}"
        out[fn["func_name"]] = dict(fn, reason=filter_reason(language, fn))
    return out


# --- Rust -----------------------------------------------------------------------------------

RUST = """//! Stacks and shapes.
//!
//! Module documentation is not a function's documentation.

use std::fmt;

/// Adds the two numbers given
/// and returns their sum.
///
/// # Examples
///
/// ```
/// assert_eq!(add(1, 2), 3);
/// ```
#[inline]
#[must_use]
pub fn add(a: i32, b: i32) -> i32 {
    let sum = a + b;
    sum
}

/** Multiplies the two numbers given together.

   More detail here. */
pub fn mul(a: i32, b: i32) -> i32 {
    let product = a * b;
    product
}

// A plain comment is not documentation for rustdoc.
fn plain(a: i32) -> i32 {
    let b = a;
    b
}

//// Four slashes are a plain comment too.
fn four(a: i32) -> i32 {
    let b = a;
    b
}

/// Finds the index of the largest element in the slice.
fn argmax(xs: &[i32]) -> usize {
    /// Nested helpers are not part of the module's interface.
    fn better(a: i32, b: i32) -> bool {
        a > b
    }
    let mut best = 0;
    for (i, x) in xs.iter().enumerate() {
        if better(*x, xs[best]) { best = i; }
    }
    best
}

pub struct Stack<T> {
    items: Vec<T>,
}

impl<T: Clone> Stack<T> {
    /// Creates an empty stack with no items at all.
    pub fn new() -> Self {
        let items = Vec::new();
        Stack { items }
    }

    /// Pushes an item onto the top of the stack.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
        let _ = self.items.len();
    }
}

impl<T: fmt::Debug> fmt::Display for Stack<T> {
    /// Writes the stack's items from bottom to top.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.items)?;
        Ok(())
    }
}

impl<T> Default for Stack<T> {
    fn default() -> Self {
        let items = Vec::new();
        Stack { items }
    }
}

pub trait Shape {
    /// The area of the shape in square units.
    fn area(&self) -> f64;

    /// Describes the shape in one line of text.
    fn describe(&self) -> String {
        let a = self.area();
        format!("shape of area {a}")
    }
}

pub struct Circle { r: f64 }
pub struct Square { s: f64 }

impl Shape for Circle {
    /// Pi times the radius squared, as usual for circles.
    fn area(&self) -> f64 {
        let r = self.r;
        std::f64::consts::PI * r * r
    }
}

impl Shape for Square {
    fn area(&self) -> f64 {
        let s = self.s;
        s * s
    }
}

/// Checks that adding zero changes nothing at all.
#[test]
fn adds_zero() {
    assert_eq!(add(1, 0), 1);
    assert_eq!(add(0, 0), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the fixture stack used by the checks below.
    fn fixture() -> Stack<i32> {
        let mut s = Stack::new();
        s.push(1);
        s
    }
}

#[cfg(not(test))]
mod real {
    /// Returns the answer to the question asked here.
    pub fn answer() -> i32 {
        let x = 42;
        x
    }
}
"""


def test_rust_doc_comments_are_read_as_rustdoc_reads_them():
    fns = functions("rust", RUST)
    add = fns["add"]
    assert (
        add["docstring"] == "Adds the two numbers given and returns their sum."
    )  # stops at # Examples
    assert add["reason"] is None
    # attributes sit between the doc and the fn; the code is the item itself, from `pub fn`
    assert (
        add["code"].startswith("pub fn add(a: i32, b: i32) -> i32 {")
        and "#[inline]" not in add["code"]
    )
    assert fns["mul"]["docstring"] == "Multiplies the two numbers given together."
    assert fns["plain"]["reason"] == "no_docstring" and fns["four"]["reason"] == "no_docstring"
    assert fns["argmax"]["reason"] is None and "better" not in fns  # nested fn left out
    assert fns["argmax"]["line"] == RUST.splitlines().index("fn argmax(xs: &[i32]) -> usize {") + 1


def test_rust_methods_are_named_after_their_impl_or_trait():
    fns = functions("rust", RUST)
    assert fns["Stack.push"]["reason"] is None
    assert fns["Stack.push"]["docstring"] == "Pushes an item onto the top of the stack."
    assert fns["Stack.new"]["reason"] == "constructor"
    assert fns["Stack.fmt"]["reason"] == "extension_method"  # impl Display: formatting plumbing
    assert fns["Stack.default"]["reason"] == "override_without_docs"
    assert fns["Shape.describe"]["reason"] is None  # a trait's default method
    assert "Shape.area" not in fns  # a signature without a body is not a function
    assert (
        fns["Circle.area"]["reason"] is None and fns["Circle.area"]["override"]
    )  # documented override kept
    assert fns["Square.area"]["reason"] == "override_without_docs"


def test_rust_tests_and_test_modules():
    fns = functions("rust", RUST)
    assert fns["adds_zero"]["reason"] == "test_function"  # #[test], whatever its name or docs
    assert fns["fixture"]["reason"] == "test_function"  # inside #[cfg(test)]
    assert fns["answer"]["reason"] is None  # #[cfg(not(test))] is not a test module


def test_rust_test_attributes_from_frameworks():
    text = (
        "/// Runs the server and checks the reply.\n#[tokio::test]\nasync fn serves() {\n    let a = 1;\n"
        "    assert_eq!(a, 1);\n}\n\n"
        '#[cfg(all(test, feature = "slow"))]\nmod slow {\n    /// A helper for the slow checks only.\n'
        "    fn helper() -> u8 {\n        let x = 1;\n        x\n    }\n}\n"
    )
    fns = functions("rust", text)
    assert fns["serves"]["reason"] == "test_function" and fns["helper"]["reason"] == "test_function"


# --- C --------------------------------------------------------------------------------------

C = r"""#include <stdlib.h>

/**
 * @brief Duplicates the string given into fresh memory.
 *
 * @param s the string
 * @return the copy, or NULL
 */
static char *
str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

/*
 * Frees the buffer and resets the pointer
 * to NULL so it cannot be used again.
 */
void buf_free(char **p)
{
    free(*p);
    *p = NULL;
}

// Returns the larger of the two integers given.
// Ties return the first.
int max_int(int a, int b)
{
    if (a >= b)
        return a;
    return b;
}

/*! Computes the absolute value of x here.
    \param x the value
    \return |x| */
int abs_int(int x)
{
    if (x < 0)
        return -x;
    return x;
}

/** Not this one: a blank line separates it from the function. */

int separated(int x)
{
    int y = x;
    return y;
}

int counter; // trailing comment of a declaration
int after_trailing(int x)
{
    int y = x;
    return y;
}

/** Prototypes are declarations, not functions. */
int prototype_only(int x);

/** Returns a pointer to a function that negates its argument. */
int (*negator(void))(int)
{
    extern int neg(int);
    return neg;
}

#ifdef HAVE_FEATURE
/** Enables the optional feature on this build. */
int enable_feature(void)
{
    int on = 1;
    return on;
}
#endif

/**
 * ring_push() - Push one byte into the ring buffer.
 * @r: the ring
 * @c: the byte
 *
 * Context: any context.
 */
int ring_push(struct ring *r, char c)
{
    r->data[r->head++] = c;
    return 0;
}

/**
 * list_append:
 * @list: a #List
 * @data: the data for the new element
 *
 * Adds a new element on to the end of the list.
 *
 * Returns: the new start of the list
 */
struct list *
list_append(struct list *list, void *data)
{
    struct list *node = list_new(data);
    return list_concat(list, node);
}
"""


def test_c_documentation_styles():
    fns = functions("c", C)
    assert (
        fns["str_dup"]["docstring"] == "Duplicates the string given into fresh memory."
    )  # \brief unwrapped
    assert fns["str_dup"]["code"].startswith(
        "static char *\nstr_dup(const char *s)\n{"
    )  # pointer return
    assert (
        fns["buf_free"]["docstring"]
        == "Frees the buffer and resets the pointer to NULL so it cannot be used again."
    )
    assert (
        fns["max_int"]["docstring"]
        == "Returns the larger of the two integers given. Ties return the first."
    )
    assert (
        fns["abs_int"]["docstring"] == "Computes the absolute value of x here."
    )  # stops at \param
    assert (
        fns["ring_push"]["docstring"] == "Push one byte into the ring buffer."
    )  # kernel-doc header
    assert (
        fns["list_append"]["docstring"] == "Adds a new element on to the end of the list."
    )  # gtk-doc
    for name in (
        "str_dup",
        "buf_free",
        "max_int",
        "abs_int",
        "ring_push",
        "list_append",
        "enable_feature",
    ):
        assert fns[name]["reason"] is None, name


def test_c_definitions_only_and_comment_placement():
    fns = functions("c", C)
    assert fns["separated"]["reason"] == "no_docstring"
    assert fns["after_trailing"]["reason"] == "no_docstring"
    assert "prototype_only" not in fns
    assert (
        fns["negator"]["docstring"] == "Returns a pointer to a function that negates its argument."
    )
    assert fns["negator"]["reason"] is None and fns["negator"]["code"].startswith(
        "int (*negator(void))(int)\n{"
    )


def test_c_function_names_with_test_are_left_out():
    text = "/** Checks that the parser accepts an empty file. */\nint test_empty(void)\n{\n    int r = 0;\n    return r;\n}\n"
    assert functions("c", text)["test_empty"]["reason"] == "test_function"


# --- C++ ------------------------------------------------------------------------------------

CPP = r"""#include <vector>

namespace geo {

/// A point on the plane.
class Point : public Shape {
 public:
  /// Creates a point at the given coordinates.
  Point(double x, double y) : x_(x), y_(y) {
    check();
  }

  /// Releases nothing; points own no resources.
  ~Point() {
    x_ = 0;
    y_ = 0;
  }

  Point(const Point&) = default;

  /// Distance from the origin of the plane.
  double norm() const {
    double s = x_ * x_ + y_ * y_;
    return std::sqrt(s);
  }

  /// Points compare equal when both coordinates do.
  bool operator==(const Point& o) const {
    bool same = x_ == o.x_;
    return same && y_ == o.y_;
  }

  /** Area of a point is zero, whatever its coordinates. */
  double area() const override {
    double zero = 0.0;
    return zero;
  }

  std::string name() const override {
    std::string n = "point";
    return n;
  }

  virtual void draw() = 0;
  double dot(const Point& o) const;

  /// Swaps the coordinates of the two points given.
  friend void swap(Point& a, Point& b) {
    std::swap(a.x_, b.x_);
    std::swap(a.y_, b.y_);
  }

 private:
  double x_, y_;
};

/**
 * Dot product of this point with another one.
 */
double Point::dot(const Point& o) const {
  double a = x_ * o.x_;
  return a + y_ * o.y_;
}

/**
 * Largest element of a non-empty vector.
 */
template <typename T>
T largest(const std::vector<T>& v) {
  T best = v[0];
  for (const T& x : v) if (x > best) best = x;
  return best;
}

/// Scales every coordinate of every point by the factor given.
void geo::scale_all(std::vector<Point>& ps, double k) {
  for (Point& p : ps) p.scale(k);
  return;
}

}  // namespace geo

/// Reads all the points of a file, one per line.
std::vector<geo::Point> io::read_points(const char* path) {
  std::vector<geo::Point> out;
  parse(path, out);
  return out;
}
"""


def test_cpp_methods_templates_and_namespaces():
    fns = functions("cpp", CPP)
    assert fns["Point.norm"]["docstring"] == "Distance from the origin of the plane."
    assert fns["Point.norm"]["reason"] is None
    assert fns["Point.dot"]["reason"] is None  # out-of-line Point::dot
    assert fns["Point.dot"]["code"].startswith("double Point::dot(const Point& o) const {")
    largest = fns["largest"]  # the doc sits before `template`, and the code keeps that line
    assert (
        largest["docstring"] == "Largest element of a non-empty vector."
        and largest["reason"] is None
    )
    assert largest["code"].startswith("template <typename T>\nT largest(")
    assert fns["scale_all"]["reason"] is None  # geo:: is a namespace of this file: not an owner
    assert fns["io.read_points"]["reason"] is None  # io:: is unknown here: named like a class
    assert fns["swap"]["reason"] is None  # a friend defined in the class is a free function
    assert fns["swap"]["code"].startswith("friend void swap(Point& a, Point& b) {")


def test_cpp_constructors_operators_overrides_and_declarations():
    fns = functions("cpp", CPP)
    assert fns["Point.Point"]["reason"] == "constructor"
    assert fns["Point.~Point"]["reason"] == "constructor"
    assert fns["Point.operator=="]["reason"] == "extension_method"
    assert fns["Point.area"]["reason"] is None and fns["Point.area"]["override"]
    assert fns["Point.name"]["reason"] == "override_without_docs"
    assert (
        len([f for f in extract_functions("cpp", CPP) if f["name"] == "Point"]) == 1
    )  # `= default` is not one
    assert "Point.draw" not in fns  # pure virtual: no body


def test_cpp_doxygen_comment_wins_over_plain_notes_and_macros_in_signatures():
    text = (
        "struct V {\n"
        "  /**\n   *  @brief  Add data to the end of the vector.\n   *  @param  x  Data to be added.\n   */\n"
        "  // DR 1234. A plain note between the doc and the definition.\n"
        "  void\n  push_back(const int& x) NOEXCEPT_MACRO\n  {\n    data[n++] = x;\n    grow();\n  }\n"
        "};\n"
    )
    fns = functions("cpp", text)
    assert fns["V.push_back"]["docstring"] == "Add data to the end of the vector."
    assert fns["V.push_back"]["reason"] is None


def test_cpp_gtest_macros_are_tests():
    text = "/** Checks the parser on an empty input. */\nTEST(Parser, Empty) {\n  Parser p;\n  EXPECT_TRUE(p.ok());\n}\n"
    assert functions("cpp", text)["TEST"]["reason"] == "test_function"


# --- overrides in the CodeSearchNet languages ----------------------------------------------


def test_java_and_python_overrides_without_docs_are_counted_as_such():
    java = functions(
        "java",
        """class Dog extends Animal {
    @Override
    public String sound() {
        String s = "woof";
        return s;
    }

    /** Walks the dog around the block once. */
    @Override
    public void walk() {
        int steps = 100;
        move(steps);
    }
}
""",
    )
    assert java["Dog.sound"]["reason"] == "override_without_docs"
    assert java["Dog.walk"]["reason"] is None
    python = functions(
        "python",
        """class Dog(Animal):
    @override
    def sound(self):
        s = "woof"
        return s

    def bark(self):
        s = "woof"
        return s
""",
    )
    assert python["Dog.sound"]["reason"] == "override_without_docs"
    assert python["Dog.bark"]["reason"] == "no_docstring"


# --- real trees on this machine -------------------------------------------------------------


def kept(language: str, paths: list[str]) -> dict[str, dict]:
    """Kept functions (func_name -> fn) of the readable files, keyed by file and name."""
    out = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for fn in extract_functions(language, text):
            if filter_reason(language, fn) is None:
                out[f"{Path(path).name}:{fn['func_name']}"] = fn
    return out


LIBSTDCXX = sorted(glob.glob("/usr/include/c++/*/bits/stl_*.h"))


@pytest.mark.skipif(not LIBSTDCXX, reason="libstdc++ headers are not installed")
def test_libstdcxx_headers():
    found = kept("cpp", LIBSTDCXX)
    assert len(found) > 300  # ~580 with g++ 12
    push_back = found["stl_vector.h:vector.push_back"]
    assert push_back["docstring"] == "Add data to the end of the %vector."
    assert all(len(fn["docstring"].split()) >= 3 and fn["code_lines"] >= 3 for fn in found.values())


LINUX_UAPI = sorted(glob.glob("/usr/include/linux/*.h"))


@pytest.mark.skipif(not LINUX_UAPI, reason="kernel UAPI headers are not installed")
def test_linux_uapi_headers_in_c():
    found = kept("c", LINUX_UAPI)
    assert len(found) > 20  # 43 with Debian 12's headers: mostly declarations, a few inline helpers
    assert all(fn["docstring"] and "*/" not in fn["docstring"] for fn in found.values())


def rust_std_collections() -> dict[str, str]:
    """Sources of the Rust standard library's collections: rust-src, else rustdoc's source pages.

    Without the rust-src component, the toolchain's HTML docs still hold every source file as a
    highlighted page (``share/doc/rust/html/src``); removing the markup gives the text back.
    """
    try:
        sysroot = subprocess.run(
            [str(Path.home() / ".cargo/bin/rustc"), "--print", "sysroot"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if not sysroot:
        return {}
    library = Path(sysroot) / "lib/rustlib/src/rust/library/alloc/src/collections"
    if library.is_dir():
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(library.rglob("*.rs"))}
    pages = Path(sysroot) / "share/doc/rust/html/src/alloc/collections"
    out = {}
    for page in sorted(pages.rglob("*.rs.html")):
        match = re.search(
            r'<pre class="rust"><code>(.*?)</code></pre>', page.read_text(encoding="utf-8"), re.S
        )
        if match:
            code = re.sub(r"<a href=#\d+ id=\d+ data-nosnippet>\d+</a>", "", match.group(1))
            out[page.name[:-5]] = html.unescape(re.sub(r"<[^>]+>", "", code))
    return out


def test_rust_standard_library_collections():
    sources = rust_std_collections()
    if "linked_list.rs" not in sources:
        missing("rust-src", "no Rust standard library sources (rust-src or rustdoc source pages)")
    names = {}
    for file_name, text in sources.items():
        for fn in extract_functions("rust", text):
            names[f"{file_name}:{fn['func_name']}"] = (fn, filter_reason("rust", fn))
    kept_fns = [fn for fn, reason in names.values() if reason is None]
    assert len(kept_fns) > 300  # ~500 with Rust 1.95
    push_back, reason = names["linked_list.rs:LinkedList.push_back"]
    assert (
        reason is None and "element to the back of" in push_back["docstring"]
    )  # wording varies by release
    assert names["linked_list.rs:LinkedList.new"][1] == "constructor"
    assert names["linked_list.rs:LinkedList.clone"][1] in (
        "extension_method",
        "override_without_docs",
    )
    assert all(len(fn["docstring"].split()) >= 3 and fn["code_lines"] >= 3 for fn in kept_fns)


def test_repo_source_reads_c_cpp_and_rust_files(tmp_path):
    from pipeline.sources import SourceStats, read_source
    from schemas import SourcePair

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text(RUST)
    (tmp_path / "src" / "util.c").write_text(C)
    (tmp_path / "src" / "geo.cpp").write_text(CPP)
    stats = SourceStats()
    pairs = [r for r in read_source(f"repo:{tmp_path}", stats=stats) if isinstance(r, SourcePair)]
    by_language: dict[str, set[str]] = {}
    for pair in pairs:
        by_language.setdefault(pair.language, set()).add(pair.func_name)
    assert {"add", "Stack.push", "Circle.area"} <= by_language["rust"]
    assert {"str_dup", "list_append"} <= by_language["c"]
    assert {"Point.norm", "largest"} <= by_language["cpp"]
    assert stats.filtered["override_without_docs"] >= 3 and stats.filtered["test_function"] >= 2
