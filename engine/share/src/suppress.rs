//! Small-cell suppression of a two-way count table with its totals.
//!
//! A partner receives a table of counts (regions × periods) with each region's total, each
//! period's total and the grand total. **Primary suppression** hides every count in 1..k−1
//! (cells and totals alike): a small count can point at a few incidents or people.
//! **Complementary suppression** then hides more entries until no hidden value can be worked
//! out from the published ones.
//!
//! What a partner knows of a hidden entry: that it is at least 1 (zeros are never hidden, they
//! are not small, and hiding them would protect nothing), and that every line of the table (a
//! row or column with its total, or the margins with the grand total) adds up. The package does
//! not say *why* an entry is hidden: a "small" flag would tell the partner that two hidden
//! entries summing to 2 are both 1. A column whose hidden entries sum to 2 over two entries still
//! gives both away, however many lines are checked one at a time, and what one line narrows
//! another can narrow further.
//!
//! The check is exact for such tables ([`SuppressedTable::pinned`]). A hidden entry can be
//! worked out only if every table that matches what is published (the same published values,
//! every line adding up, every hidden entry at least 1) gives it the same value. Two such tables
//! differ by a sum of alternating cycles of hidden entries (+1, −1, +1, … along rows and
//! columns), because the lines are the constraints of a flow on the bipartite graph of rows and
//! columns; so an entry is safe exactly when some cycle of hidden entries through it can shift it
//! by one, up or down, with every entry on the cycle staying at least 1. That is a path search,
//! one per hidden entry and direction. It covers a partner who solves the whole linear system at
//! once, not only one line at a time. While any hidden entry is pinned, one more entry is hidden
//! for it: the smallest non-zero cell of whichever of its row and column hides fewer entries, else
//! of the other (totals last), else one that closes a cycle through it. Hiding only ever grows, and with every total hidden no entry is
//! pinned, so this ends.
//!
//! It guarantees that no hidden value is known exactly, not that its range is wide: a partner
//! may still learn that a hidden count is 1 or 2. Noise (where the agreement sets a privacy
//! budget) is the answer to that. Why by hand: no Rust crate does statistical disclosure
//! control (sdcTable and tau-argus are R and Java).

use std::collections::VecDeque;

/// How an entry of the exported table is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Published as is.
    Published,
    /// Hidden: its value is in 1..k−1.
    Primary,
    /// Hidden so that a primary one cannot be worked out from the totals.
    Complementary,
}

impl Flag {
    /// Whether the value is hidden.
    pub fn hidden(self) -> bool {
        self != Flag::Published
    }

    /// Name in the exported table (`null` for published).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Flag::Published => None,
            Flag::Primary => Some("primary"),
            Flag::Complementary => Some("complementary"),
        }
    }
}

/// A count table with its margins and the flags that suppression set.
///
/// `values[r][c]` for `r < rows`, `c < cols` are the cells; `values[r][cols]` is row `r`'s
/// total, `values[rows][c]` column `c`'s total and `values[rows][cols]` the grand total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedTable {
    /// Number of rows (regions).
    pub rows: usize,
    /// Number of columns (periods).
    pub cols: usize,
    /// `(rows + 1) × (cols + 1)` values, margins last.
    pub values: Vec<Vec<i64>>,
    /// Their flags.
    pub flags: Vec<Vec<Flag>>,
}

/// A row or a column of the table, as a node of the graph whose edges are hidden entries.
#[derive(Debug, Clone, Copy)]
enum Node {
    Row(usize),
    Col(usize),
}

/// Whether a partner could believe `value` for an entry flagged `flag` that holds `published`:
/// a hidden entry can be anything from 1 up, a published one only what was published.
pub fn allowed(value: i64, flag: Flag, published: i64) -> bool {
    if flag.hidden() {
        value >= 1
    } else {
        value == published
    }
}

impl SuppressedTable {
    /// Every line of the table as the positions it holds, its total last: each row with its
    /// total, each column with its total, and the margins (row totals with the grand total,
    /// column totals with it). In each line the entries before the last sum to the last.
    pub fn lines(&self) -> Vec<Vec<(usize, usize)>> {
        let mut out = Vec::with_capacity(self.rows + self.cols + 2);
        for r in 0..=self.rows {
            out.push((0..=self.cols).map(|c| (r, c)).collect());
        }
        for c in 0..=self.cols {
            out.push((0..=self.rows).map(|r| (r, c)).collect());
        }
        out
    }

    /// Number of hidden entries.
    pub fn hidden(&self) -> usize {
        self.flags.iter().flatten().filter(|f| f.hidden()).count()
    }

    /// +1 for cells and the grand total, −1 for row and column totals: with these signs every
    /// row and column of the table (margins included) sums to zero, so a change that keeps all
    /// lines adding up is a cycle of +1/−1 along rows and columns.
    fn sign(&self, r: usize, c: usize) -> i64 {
        if (r == self.rows) != (c == self.cols) {
            -1
        } else {
            1
        }
    }

    /// Rows and columns reached from `start` over hidden entries other than `skip`, where a
    /// step from a column to a row changes the entry by `to_row` and a step from a row to a
    /// column by `to_col` (signed, see [`Self::sign`]), each entry staying within its range.
    #[allow(clippy::too_many_arguments)]
    fn reach(
        &self,
        start: Node,
        skip: (usize, usize),
        to_row: i64,
        to_col: i64,
        by_row: &[Vec<usize>],
        by_col: &[Vec<usize>],
    ) -> (Vec<bool>, Vec<bool>) {
        let ok = |r: usize, c: usize, signed: i64| {
            let dv = signed * self.sign(r, c);
            (r, c) != skip && allowed(self.values[r][c] + dv, self.flags[r][c], self.values[r][c])
        };
        let mut rows = vec![false; self.rows + 1];
        let mut cols = vec![false; self.cols + 1];
        let mut queue = VecDeque::from([start]);
        match start {
            Node::Row(r) => rows[r] = true,
            Node::Col(c) => cols[c] = true,
        }
        while let Some(n) = queue.pop_front() {
            match n {
                Node::Col(c) => {
                    for &r in &by_col[c] {
                        if !rows[r] && ok(r, c, to_row) {
                            rows[r] = true;
                            queue.push_back(Node::Row(r));
                        }
                    }
                }
                Node::Row(r) => {
                    for &c in &by_row[r] {
                        if !cols[c] && ok(r, c, to_col) {
                            cols[c] = true;
                            queue.push_back(Node::Col(c));
                        }
                    }
                }
            }
        }
        (rows, cols)
    }

    /// Whether hidden entry `e` can change by `d` (±1) in another table that matches everything
    /// published: a path from its column back to its row over other hidden entries, along which
    /// the signed changes alternate (−, +, −, … after the entry's own +), each entry staying
    /// within its range. Such a path and `e` form the cycle.
    fn movable(&self, e: (usize, usize), d: i64, by_row: &[Vec<usize>], by_col: &[Vec<usize>]) -> bool {
        let (r0, c0) = e;
        if !allowed(self.values[r0][c0] + d, self.flags[r0][c0], self.values[r0][c0]) {
            return false;
        }
        let delta = d * self.sign(r0, c0);
        let (rows, _) = self.reach(Node::Col(c0), e, -delta, delta, by_row, by_col);
        rows[r0]
    }

    /// Hidden entries by row and by column.
    fn hidden_graph(&self) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let mut by_row = vec![Vec::new(); self.rows + 1];
        let mut by_col = vec![Vec::new(); self.cols + 1];
        for (r, row) in self.flags.iter().enumerate() {
            for (c, f) in row.iter().enumerate() {
                if f.hidden() {
                    by_row[r].push(c);
                    by_col[c].push(r);
                }
            }
        }
        (by_row, by_col)
    }

    /// A published non-zero entry whose hiding would give pinned entry `e` a cycle: it joins
    /// what `e`'s column reaches to what reaches `e`'s row (smallest value, cells first).
    fn bridge(&self, e: (usize, usize)) -> Option<(usize, usize)> {
        let (by_row, by_col) = self.hidden_graph();
        let (r0, c0) = e;
        let mut best: Option<((bool, i64), (usize, usize))> = None;
        for d in [1i64, -1] {
            if !allowed(self.values[r0][c0] + d, self.flags[r0][c0], self.values[r0][c0]) {
                continue;
            }
            let delta = d * self.sign(r0, c0);
            // Forward from e's column: column→row −delta, row→column +delta. Backward from e's
            // row (the same cycle walked the other way): row→column −delta, column→row +delta.
            let (f_rows, f_cols) = self.reach(Node::Col(c0), e, -delta, delta, &by_row, &by_col);
            let (b_rows, b_cols) = self.reach(Node::Row(r0), e, delta, -delta, &by_row, &by_col);
            for r in 0..=self.rows {
                for c in 0..=self.cols {
                    let v = self.values[r][c];
                    if self.flags[r][c].hidden() || v == 0 || (r, c) == e {
                        continue;
                    }
                    // As a row step (+delta) from a forward row into a backward column, or as a
                    // column step (−delta) from a forward column into a backward row.
                    let signed = if f_rows[r] && b_cols[c] {
                        delta
                    } else if f_cols[c] && b_rows[r] {
                        -delta
                    } else {
                        continue;
                    };
                    if v + signed * self.sign(r, c) < 1 {
                        continue;
                    }
                    let key = (r == self.rows || c == self.cols, v);
                    if best.is_none_or(|(b, _)| key < b) {
                        best = Some((key, (r, c)));
                    }
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// The hidden entries a partner can work out exactly from the published table (see the
    /// module documentation).
    pub fn pinned(&self) -> Vec<(usize, usize)> {
        let (by_row, by_col) = self.hidden_graph();
        let mut out = Vec::new();
        for (r, cs) in by_row.iter().enumerate() {
            for &c in cs {
                if !self.movable((r, c), 1, &by_row, &by_col) && !self.movable((r, c), -1, &by_row, &by_col) {
                    out.push((r, c));
                }
            }
        }
        out
    }
}

/// Suppresses `cells` (`rows × cols` non-negative counts) with threshold `k` (counts 1..k−1 are
/// hidden; `k ≤ 1` hides nothing). Cells must be rectangular.
pub fn suppress(cells: &[Vec<i64>], k: i64) -> SuppressedTable {
    let rows = cells.len();
    let cols = cells.first().map_or(0, Vec::len);
    let mut values = vec![vec![0i64; cols + 1]; rows + 1];
    for (r, row) in cells.iter().enumerate() {
        for (c, v) in row.iter().enumerate().take(cols) {
            values[r][c] = *v;
            values[r][cols] += v;
            values[rows][c] += v;
            values[rows][cols] += v;
        }
    }
    let flags = values
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| {
                    if (1..k).contains(v) {
                        Flag::Primary
                    } else {
                        Flag::Published
                    }
                })
                .collect()
        })
        .collect();
    let mut t = SuppressedTable {
        rows,
        cols,
        values,
        flags,
    };
    if k <= 1 {
        return t;
    }
    loop {
        let pinned = t.pinned();
        if pinned.is_empty() {
            return t;
        }
        // One more hidden entry per pinned one: in whichever of its row and column hides fewer
        // entries, else the other, else one that bridges to a cycle through it; a pinned entry
        // that shares a row or column with an entry hidden in this round waits for the next.
        let mut picked: Vec<(usize, usize)> = Vec::new();
        for (r, c) in pinned {
            if picked.iter().any(|(pr, pc)| *pr == r || *pc == c) {
                continue;
            }
            let candidate = |line: Vec<(usize, usize)>| {
                line.into_iter()
                    .filter(|(i, j)| !t.flags[*i][*j].hidden() && t.values[*i][*j] > 0)
                    .min_by_key(|(i, j)| (*i == rows || *j == cols, t.values[*i][*j]))
            };
            let row: Vec<_> = (0..=cols).map(|j| (r, j)).collect();
            let col: Vec<_> = (0..=rows).map(|i| (i, c)).collect();
            let hidden_in =
                |line: &[(usize, usize)]| line.iter().filter(|(i, j)| t.flags[*i][*j].hidden()).count();
            // The line that hides fewer entries first: it is the one that gives it away.
            let (first, second) = if hidden_in(&col) < hidden_in(&row) {
                (col, row)
            } else {
                (row, col)
            };
            if let Some(p) = candidate(first)
                .or_else(|| candidate(second))
                .or_else(|| t.bridge((r, c)))
            {
                t.flags[p.0][p.1] = Flag::Complementary;
                picked.push(p);
            }
        }
        if picked.is_empty() {
            // Nothing non-zero is left to hide next to what is pinned; the tests would show it.
            return t;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Another table a partner could not tell from `t`, in which hidden entry `e` differs:
    /// found by trying every simple alternating cycle of hidden entries through `e` (depth
    /// first, independent of `pinned`'s breadth-first search), then checked directly: every
    /// line adds up, every published value is unchanged, every hidden one is within its
    /// flag's range, and `e` changed.
    fn witness(t: &SuppressedTable, e: (usize, usize)) -> Option<Vec<Vec<i64>>> {
        for d in [1i64, -1] {
            let s0 = d * sign_of(t, e);
            let mut path = vec![e];
            if fits(t, s0, 0, e) && cycle(t, e, s0, &mut path, true) {
                let mut alt = t.values.clone();
                for (i, &(r, c)) in path.iter().enumerate() {
                    alt[r][c] += change(t, s0, i, (r, c));
                }
                let lines_ok = t.lines().iter().all(|line| {
                    let (total, parts) = line.split_last().unwrap();
                    parts.iter().map(|(r, c)| alt[*r][*c]).sum::<i64>() == alt[total.0][total.1]
                });
                let ranges_ok = (0..=t.rows)
                    .all(|r| (0..=t.cols).all(|c| allowed(alt[r][c], t.flags[r][c], t.values[r][c])));
                assert!(lines_ok && ranges_ok, "a witness must be a valid table");
                assert_ne!(alt[e.0][e.1], t.values[e.0][e.1]);
                return Some(alt);
            }
        }
        None
    }

    fn sign_of(t: &SuppressedTable, (r, c): (usize, usize)) -> i64 {
        if (r == t.rows) != (c == t.cols) { -1 } else { 1 }
    }

    /// The change of the `i`-th entry of a cycle whose signed changes alternate +s0, −s0, …
    fn change(t: &SuppressedTable, s0: i64, i: usize, p: (usize, usize)) -> i64 {
        (if i.is_multiple_of(2) { s0 } else { -s0 }) * sign_of(t, p)
    }

    fn fits(t: &SuppressedTable, s0: i64, i: usize, (r, c): (usize, usize)) -> bool {
        t.flags[r][c].hidden()
            && allowed(
                t.values[r][c] + change(t, s0, i, (r, c)),
                t.flags[r][c],
                t.values[r][c],
            )
    }

    /// Extends `path` (which starts at `e`) to a cycle: a step along the last entry's column
    /// (to another row) when `along_column`, else along its row; a column step that reaches
    /// `e`'s row closes it. Rows and columns are used once each.
    fn cycle(
        t: &SuppressedTable,
        e: (usize, usize),
        s0: i64,
        path: &mut Vec<(usize, usize)>,
        along_column: bool,
    ) -> bool {
        let i = path.len();
        let (pr, pc) = path[i - 1];
        if i > 16 {
            return false;
        }
        if along_column {
            for r in 0..=t.rows {
                let cand = (r, pc);
                let row_used = path.iter().any(|(pr2, _)| *pr2 == r);
                if r == pr || (row_used && r != e.0) || !fits(t, s0, i, cand) {
                    continue;
                }
                path.push(cand);
                if r == e.0 || cycle(t, e, s0, path, false) {
                    return true;
                }
                path.pop();
            }
        } else {
            for c in 0..=t.cols {
                let cand = (pr, c);
                if path.iter().any(|(_, pc2)| *pc2 == c) || !fits(t, s0, i, cand) {
                    continue;
                }
                path.push(cand);
                if cycle(t, e, s0, path, true) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }

    /// The promises of the export, checked on any table: no published count in 1..k−1, and
    /// every hidden entry has a witness table in which it differs.
    fn check(t: &SuppressedTable, k: i64) {
        for (r, row) in t.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !t.flags[r][c].hidden() {
                    assert!(!(1..k).contains(v), "published small value {v} at ({r}, {c})");
                } else {
                    assert!(
                        witness(t, (r, c)).is_some(),
                        "hidden ({r}, {c}) = {v} can be worked out: {:?} {:?}",
                        t.values,
                        t.flags
                    );
                }
            }
        }
        assert!(t.pinned().is_empty());
    }

    #[test]
    fn two_primaries_that_sum_to_two_are_not_left_alone() {
        // Column 0 holds 1 and 1 among larger counts. Hiding the two 1s and one large cell in
        // each of their rows leaves no line with a single hidden value, yet the column says the
        // hidden pair sums to 2, so each is 1.
        let cells = vec![vec![1, 30], vec![1, 30], vec![20, 9]];
        let mut weak = suppress(&[vec![0]], 5);
        weak.rows = 3;
        weak.cols = 2;
        weak.values = vec![
            vec![1, 30, 31],
            vec![1, 30, 31],
            vec![20, 9, 29],
            vec![22, 69, 91],
        ];
        weak.flags = vec![vec![Flag::Published; 3]; 4];
        for (r, c) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            weak.flags[r][c] = if c == 0 {
                Flag::Primary
            } else {
                Flag::Complementary
            };
        }
        assert_eq!(weak.pinned(), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert!(witness(&weak, (0, 0)).is_none());
        let t = suppress(&cells, 5);
        check(&t, 5);
        assert!(t.hidden() > 4, "{:?}", t.flags);
    }

    #[test]
    fn a_lone_small_cell_takes_three_partners_with_it() {
        let cells = vec![vec![10, 3, 12], vec![9, 8, 20], vec![11, 14, 7]];
        let t = suppress(&cells, 5);
        check(&t, 5);
        assert_eq!(t.flags[0][1], Flag::Primary);
        // The rectangle: the smallest partner in its row (10) and column (8), and their corner.
        assert_eq!(t.flags[0][0], Flag::Complementary);
        assert_eq!(t.flags[1][1], Flag::Complementary);
        assert_eq!(t.flags[1][0], Flag::Complementary);
        assert_eq!(t.hidden(), 4);
        assert_eq!(t.values[3][3], 94, "grand total");
    }

    #[test]
    fn nothing_small_means_nothing_hidden() {
        let t = suppress(&[vec![0, 5, 9], vec![0, 0, 6]], 5);
        assert_eq!(t.hidden(), 0);
        let t = suppress(&[vec![1, 2]], 1);
        assert_eq!(t.hidden(), 0, "k = 1 hides nothing");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn no_small_value_is_published_and_no_hidden_one_can_be_worked_out(
            (rows, cols) in (1usize..7, 1usize..7),
            k in 2i64..8,
            seed in prop::collection::vec(0i64..30, 64),
            zeros in prop::collection::vec(any::<bool>(), 64),
        ) {
            // Mostly-zero, mostly-small tables, like monthly violence counts.
            let cells: Vec<Vec<i64>> = (0..rows)
                .map(|r| (0..cols).map(|c| {
                    let i = (r * 8 + c) % 64;
                    if zeros[i] { 0 } else { seed[i] }
                }).collect())
                .collect();
            let t = suppress(&cells, k);
            check(&t, k);
            for (r, row) in cells.iter().enumerate() {
                prop_assert_eq!(&t.values[r][..cols], &row[..]);
            }
        }
    }
}
