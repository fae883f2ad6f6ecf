//! IMDB movie reviews from the `aclImdb` folders (`train/pos`, `train/neg`,
//! `test/pos`, `test/neg`, one review per `.txt` file), as Keras prepares them: the
//! `num_words` most frequent training words, a start token, and sequences padded or
//! cut at the front to a fixed length (`pad_sequences`' defaults).
//!
//! Token ids: 0 pads, 1 starts a review, 2 stands for a word outside the vocabulary,
//! 3 is unused (as in Keras' `imdb.npz`), and the word of frequency rank `r` (from 0)
//! is `r + 4`: a vocabulary of `num_words + 4` ids. Each example's features are its
//! ids, as floats (exact below 2^24). Labels: 1 positive, 0 negative.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::Float;
use crate::data::Dataset;
use crate::error::{Error, Result, ensure_config};

pub const PAD: u32 = 0;
pub const START: u32 = 1;
pub const OUT_OF_VOCABULARY: u32 = 2;
/// The id of the most frequent word.
pub const FIRST_WORD: u32 = 4;

/// The training and test sets, and the vocabulary (most frequent first).
pub struct Imdb<F> {
    pub train: Dataset<F>,
    pub test: Dataset<F>,
    pub vocabulary: Vec<String>,
}

/// Lower-cased words of a review: HTML line breaks dropped, runs of letters, digits and
/// apostrophes kept.
pub fn tokenize(text: &str) -> Vec<String> {
    text.replace("<br />", " ")
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Loads `dir/{train,test}/{pos,neg}/*.txt` with a vocabulary of `num_words` words and
/// sequences of `length` ids.
pub fn load_acl<F: Float>(dir: &Path, num_words: usize, length: usize) -> Result<Imdb<F>> {
    ensure_config!(num_words > 0 && length > 0, "the vocabulary and the sequences need a positive size");
    let train = read_split(&dir.join("train"))?;
    let test = read_split(&dir.join("test"))?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (words, _) in &train {
        for w in words {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    // By frequency, ties by the word, so the vocabulary does not depend on file order.
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.truncate(num_words);
    let vocabulary: Vec<String> = ranked.iter().map(|(w, _)| w.to_string()).collect();
    let ids: HashMap<&str, u32> =
        vocabulary.iter().enumerate().map(|(r, w)| (w.as_str(), r as u32 + FIRST_WORD)).collect();
    let encode = |split: &[(Vec<String>, u32)]| -> Result<Dataset<F>> {
        let mut features = Array2::from_elem((split.len(), length), F::ZERO);
        for ((words, _), mut row) in split.iter().zip(features.rows_mut()) {
            let sequence: Vec<u32> = std::iter::once(START)
                .chain(words.iter().map(|w| ids.get(w.as_str()).copied().unwrap_or(OUT_OF_VOCABULARY)))
                .collect();
            // Keep the last `length` ids; pad at the front.
            let kept = &sequence[sequence.len().saturating_sub(length)..];
            let pad = length - kept.len();
            for (slot, id) in row.iter_mut().skip(pad).zip(kept) {
                *slot = F::from_f64(*id as f64);
            }
        }
        Dataset::new(features, split.iter().map(|(_, label)| *label).collect())
    };
    Ok(Imdb { train: encode(&train)?, test: encode(&test)?, vocabulary })
}

/// The reviews of `dir/pos` and `dir/neg` with their labels, in file-name order.
fn read_split(dir: &Path) -> Result<Vec<(Vec<String>, u32)>> {
    let mut reviews = Vec::new();
    for (label, name) in [(1, "pos"), (0, "neg")] {
        let folder = dir.join(name);
        let io = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|e| io(&folder, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            let text = String::from_utf8(bytes).map_err(|_| Error::Malformed {
                path: path.clone(),
                line: 0,
                message: "not UTF-8 text".into(),
            })?;
            reviews.push((tokenize(&text), label));
        }
    }
    if reviews.is_empty() {
        return Err(Error::Malformed {
            path: dir.to_path_buf(),
            line: 0,
            message: "no reviews: expected .txt files in pos/ and neg/".into(),
        });
    }
    Ok(reviews)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, split: &str, label: &str, name: &str, text: &[u8]) {
        let folder = dir.join(split).join(label);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), text).unwrap();
    }

    #[test]
    fn reviews_become_keras_style_sequences() {
        let dir = std::env::temp_dir().join(format!("dpsgd-imdb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "train", "pos", "0_9.txt", b"A great, great film.<br />Great!");
        write(&dir, "train", "neg", "1_2.txt", b"A bad film. Bad acting; don't.");
        write(&dir, "test", "pos", "0_8.txt", b"great unseen words here and there and everywhere");
        write(&dir, "test", "neg", "1_1.txt", b"bad");
        write(&dir, "test", "neg", "notes.md", b"ignored: not a .txt file");
        let imdb = load_acl::<f32>(&dir, 3, 6).unwrap();
        // Counts: great 3, a 2, bad 2, film 2, acting 1, don't 1: ties by the word.
        assert_eq!(imdb.vocabulary, ["great", "a", "bad"]);
        let rows =
            |d: &Dataset<f32>| -> Vec<Vec<f32>> { d.features().rows().into_iter().map(|r| r.to_vec()).collect() };
        // Ids: great 4, a 5, bad 6, anything else 2; 1 starts, 0 pads.
        // "a great great film great": exactly six ids with the start.
        // "a bad film bad acting don't": seven, so the start is cut.
        assert_eq!(rows(&imdb.train), [vec![1.0, 5.0, 4.0, 4.0, 2.0, 4.0], vec![5.0, 6.0, 2.0, 6.0, 2.0, 2.0]]);
        assert_eq!(imdb.train.labels(), &[1, 0]);
        // Eight unknown-but-one words keep their last six; "bad" is padded at the front.
        assert_eq!(rows(&imdb.test), [vec![2.0; 6], vec![0.0, 0.0, 0.0, 0.0, 1.0, 6.0]]);
        assert_eq!(imdb.test.labels(), &[1, 0]);
        assert!(load_acl::<f32>(&dir.join("nowhere"), 3, 6).is_err());
    }

    #[test]
    fn words_are_lower_case_runs_without_markup() {
        assert_eq!(tokenize("It's <br />GREAT, isn't it?"), ["it's", "great", "isn't", "it"]);
    }
}
