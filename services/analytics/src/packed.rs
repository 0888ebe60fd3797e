//! Aggregate rows as bytes: one key's [`Cells`] as its numbers and its
//! histograms, and every key of a row packed into one blob of each.

use crate::cells::{Cells, Dist, Measure, Measures};
use crate::codec::{In, Malformed, Out};
use crate::sketch::Hist;

fn measure(r: &mut In<'_>) -> Result<Measure, Malformed> {
    let code = u8::try_from(r.u()?).map_err(|_| Malformed)?;
    Measure::from_code(code).ok_or(Malformed)
}

/// A row's cells as `(numbers, histograms)` bytes; only non-zero measures
/// are written.
pub fn encode_cells(cells: &Cells) -> (Vec<u8>, Vec<u8>) {
    let (mut nums, mut hists) = (Out(Vec::new()), Out(Vec::new()));
    for (m, c) in Measure::ALL.iter().zip(&cells.cells) {
        if c.n != 0 || c.sum != 0 {
            nums.u(*m as u64);
            nums.i(c.n);
            nums.i(c.sum);
        }
        if let Some(Dist::Hist(h)) = c.dist.as_deref()
            && !h.is_empty()
        {
            hists.u(*m as u64);
            hists.u(h.0.len() as u64);
            let mut last = 0u16;
            for &(b, count) in &h.0 {
                hists.u(u64::from(b - last));
                hists.i(count);
                last = b;
            }
        }
    }
    (nums.0, hists.0)
}

/// Adds the row stored as `nums` and `hists` (empty: not read) to `cells`,
/// times `sign`; of the histograms only those of `wanted` measures.
pub fn add_cells(
    cells: &mut Cells,
    nums: &[u8],
    hists: &[u8],
    sign: i64,
    wanted: Measures,
) -> Result<(), Malformed> {
    let mut r = In(nums);
    while !r.done() {
        let m = measure(&mut r)?;
        let c = &mut cells.cells[m as usize];
        c.n += sign * r.i()?;
        c.sum += sign * r.i()?;
    }
    let mut r = In(hists);
    let mut counts = Vec::new();
    while !r.done() {
        let m = measure(&mut r)?;
        let n = r.small()?;
        counts.clear();
        let mut b = 0u16;
        for _ in 0..n {
            b = b
                .checked_add(u16::try_from(r.u()?).map_err(|_| Malformed)?)
                .ok_or(Malformed)?;
            counts.push((b, r.i()?));
        }
        if !wanted.contains(m) {
            continue;
        }
        let cell = &mut cells.cells[m as usize];
        let dist = cell
            .dist
            .get_or_insert_with(|| Box::new(Dist::Hist(Hist::default())));
        // Rows are only added to bucketed totals; a raw (exact) total
        // never reads rows.
        if let Dist::Hist(h) = dist.as_mut() {
            h.merge_sorted(&counts, sign);
        }
    }
    Ok(())
}

/// Keys and their parts (one key's [`encode_cells`] half), packed into one
/// blob; empty parts are left out. Keys in ascending order give the same
/// bytes for the same numbers.
pub fn pack<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut o = Out(Vec::new());
    for (key, part) in parts {
        if !part.is_empty() {
            o.s(key);
            o.u(part.len() as u64);
            o.0.extend_from_slice(part);
        }
    }
    o.0
}

/// The keys and parts of a [`pack`]ed blob.
pub fn unpack(blob: &[u8]) -> Result<Vec<(String, &[u8])>, Malformed> {
    let mut r = In(blob);
    let mut out = Vec::new();
    while !r.done() {
        let key = r.s()?;
        let n = usize::try_from(r.u()?).map_err(|_| Malformed)?;
        if n > r.0.len() {
            return Err(Malformed);
        }
        let (part, rest) = r.0.split_at(n);
        r.0 = rest;
        out.push((key, part));
    }
    Ok(out)
}

/// The net count `n` of `m` in one key's `nums` part.
pub fn count_in(nums: &[u8], m: Measure) -> Result<i64, Malformed> {
    let mut r = In(nums);
    while !r.done() {
        let (code, n, _sum) = (measure(&mut r)?, r.i()?, r.i()?);
        if code == m {
            return Ok(n);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_packed_rows_round_trip() {
        let samples = crate::codec::tests::samples();
        let mut cells = Cells::default();
        for item in &samples.items {
            item.what.add_to(&mut cells, 1);
        }
        let (nums, hists) = encode_cells(&cells);
        let mut back = Cells::default();
        add_cells(&mut back, &nums, &hists, 1, Measures::ALL).unwrap();
        assert_eq!(back, cells);
        add_cells(&mut back, &nums, &hists, -1, Measures::ALL).unwrap();
        assert!(back.is_zero());
        assert_eq!(count_in(&nums, Measure::Created), Ok(1));

        let packed = pack([("", &nums[..]), ("+a", &[][..]), ("+b", &hists[..])]);
        let parts = unpack(&packed).unwrap();
        assert_eq!(
            parts,
            [(String::new(), &nums[..]), ("+b".to_owned(), &hists[..])]
        );
        assert_eq!(unpack(&packed[..packed.len() - 1]), Err(Malformed));
    }
}
