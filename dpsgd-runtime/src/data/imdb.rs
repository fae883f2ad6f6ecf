//! IMDB movie reviews from the `aclImdb` folders (`train/pos`, `train/neg`,
//! `test/pos`, `test/neg`, one review per `.txt` file), or from Keras' `imdb.npz`
//! (reviews as lists of word frequency ranks), as Keras prepares them: a start token,
//! and sequences padded or cut at the front to a fixed length (`pad_sequences`'
//! defaults).
//!
//! Token ids: 0 pads, 1 starts a review, 2 stands for a word outside the vocabulary,
//! 3 is unused (as in Keras' `imdb.npz`), and words take ids from 4 on: a vocabulary of
//! `num_words + 4` ids. Each example's features are its ids, as floats (exact below
//! 2^24). Labels: 1 positive, 0 negative.
//!
//! Words of the `aclImdb` folders are hashed into `num_words` ids ([`word_id`]), so
//! that no vocabulary is computed from the training reviews: word counts of the
//! training set would be statistics of the private data outside the privacy
//! accounting. The ids of `imdb.npz` are its publisher's frequency ranks over the
//! whole corpus: a model trained on them has a guarantee that does not cover that
//! ranking, and `dpsgd train` says so.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::Float;
use crate::data::{Dataset, npz};
use crate::error::{Error, Result, ensure_config};

/// The id that pads a short review (at the front).
pub const PAD: u32 = 0;
/// The id that starts every review.
pub const START: u32 = 1;
/// The id of a word outside the vocabulary.
pub const OUT_OF_VOCABULARY: u32 = 2;
/// The id of the most frequent word.
pub const FIRST_WORD: u32 = 4;

/// The training and test sets.
pub struct Imdb<F> {
    /// The training reviews.
    pub train: Dataset<F>,
    /// The test reviews.
    pub test: Dataset<F>,
}

/// The id of `word` among `num_words` hashed ids: [`FIRST_WORD`] plus its 64-bit
/// FNV-1a hash modulo `num_words`. It depends on the word alone (words that share an
/// id share an embedding row).
pub fn word_id(word: &str, num_words: usize) -> u32 {
    let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    FIRST_WORD + (hash % num_words as u64) as u32
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

/// Loads `dir/{train,test}/{pos,neg}/*.txt` with words hashed into `num_words` ids
/// and sequences of `length` ids.
pub fn load_acl<F: Float>(dir: &Path, num_words: usize, length: usize) -> Result<Imdb<F>> {
    ensure_config!(num_words > 0 && length > 0, "the vocabulary and the sequences need a positive size");
    let train = read_split(&dir.join("train"))?;
    let test = read_split(&dir.join("test"))?;
    let encode = |split: &[(Vec<String>, u32)]| -> Result<Dataset<F>> {
        let sequences = split.iter().map(|(words, _)| words.iter().map(|w| word_id(w, num_words)).collect());
        pad_or_cut(sequences, split.iter().map(|(_, label)| *label).collect(), length)
    };
    Ok(Imdb { train: encode(&train)?, test: encode(&test)? })
}

/// Reviews of word ids (without the start token) as a dataset: the start token first,
/// then the last `length` ids kept and the front padded.
fn pad_or_cut<F: Float>(
    sequences: impl Iterator<Item = Vec<u32>>,
    labels: Vec<u32>,
    length: usize,
) -> Result<Dataset<F>> {
    let mut features = Array2::from_elem((labels.len(), length), F::ZERO);
    for (words, mut row) in sequences.zip(features.rows_mut()) {
        let sequence: Vec<u32> = std::iter::once(START).chain(words).collect();
        let kept = &sequence[sequence.len().saturating_sub(length)..];
        let pad = length - kept.len();
        for (slot, id) in row.iter_mut().skip(pad).zip(kept) {
            *slot = F::from_f64(*id as f64);
        }
    }
    Dataset::new(features, labels)
}

/// Loads Keras' `imdb.npz`: `x_train`, `x_test` (lists of word frequency ranks, 1 the
/// most frequent) and `y_train`, `y_test` (0 or 1). Ranks up to `num_words` become
/// ids `rank + 3` (so rank 1 is [`FIRST_WORD`]), larger ones [`OUT_OF_VOCABULARY`].
pub fn load_npz<F: Float>(path: &Path, num_words: usize, length: usize) -> Result<Imdb<F>> {
    ensure_config!(num_words > 0 && length > 0, "the vocabulary and the sequences need a positive size");
    let bytes = crate::error::read_file(path)?;
    let members = npz::read_zip(path, &bytes)?;
    let bad = |message: String| Error::Malformed { path: path.to_path_buf(), line: 0, message };
    let array = |name: &str| -> Result<npz::Npy> {
        let (_, data) = members.iter().find(|(n, _)| n == &format!("{name}.npy")).ok_or_else(|| {
            bad(format!("no {name} in the archive (Keras' imdb.npz has x_train, y_train, x_test, y_test)"))
        })?;
        npz::read_npy(path, name, data)
    };
    let split = |x: &str, y: &str| -> Result<Dataset<F>> {
        let npz::Npy::Lists(reviews) = array(x)? else {
            return Err(bad(format!("{x} holds numbers, not reviews (lists of word ranks)")));
        };
        let npz::Npy::Integers(labels) = array(y)? else { return Err(bad(format!("{y} holds lists, not labels"))) };
        if labels.len() != reviews.len() {
            return Err(bad(format!("{} reviews in {x} but {} labels in {y}", reviews.len(), labels.len())));
        }
        let labels = labels
            .into_iter()
            .enumerate()
            .map(|(i, l)| match l {
                0 | 1 => Ok(l as u32),
                _ => Err(bad(format!("{y}[{i}] = {l}: labels are 0 or 1"))),
            })
            .collect::<Result<Vec<u32>>>()?;
        let mut sequences = Vec::with_capacity(reviews.len());
        for (i, review) in reviews.into_iter().enumerate() {
            let ids = review
                .into_iter()
                .map(|rank| match rank {
                    1.. if rank as u64 <= num_words as u64 => Ok(rank as u32 + FIRST_WORD - 1),
                    1.. => Ok(OUT_OF_VOCABULARY),
                    _ => Err(bad(format!("{x}[{i}] holds the word rank {rank}: ranks start at 1"))),
                })
                .collect::<Result<Vec<u32>>>()?;
            sequences.push(ids);
        }
        pad_or_cut(sequences.into_iter(), labels, length)
    };
    Ok(Imdb { train: split("x_train", "y_train")?, test: split("x_test", "y_test")? })
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
    fn words_hash_to_ids_of_their_own() {
        // FNV-1a's published 64-bit test vectors.
        assert_eq!(word_id("", 1 << 30), FIRST_WORD + (0xcbf2_9ce4_8422_2325u64 % (1 << 30)) as u32);
        assert_eq!(word_id("a", 1 << 20), FIRST_WORD + (0xaf63_dc4c_8601_ec8c_u64 % (1 << 20)) as u32);
        assert_eq!(word_id("foobar", 1000), FIRST_WORD + (0x8594_4171_f739_67e8_u64 % 1000) as u32);
        assert!((0..1000).all(|i| (FIRST_WORD..FIRST_WORD + 7).contains(&word_id(&i.to_string(), 7))));
    }

    #[test]
    fn reviews_become_keras_style_sequences_of_hashed_words() {
        let dir = std::env::temp_dir().join(format!("dpsgd-imdb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "train", "pos", "0_9.txt", b"A great, great film.<br />Great!");
        write(&dir, "train", "neg", "1_2.txt", b"A bad film. Bad acting; don't.");
        write(&dir, "test", "pos", "0_8.txt", b"great unseen words here and there and everywhere");
        write(&dir, "test", "neg", "1_1.txt", b"bad");
        write(&dir, "test", "neg", "notes.md", b"ignored: not a .txt file");
        let imdb = load_acl::<f32>(&dir, 1000, 6).unwrap();
        let rows =
            |d: &Dataset<f32>| -> Vec<Vec<f32>> { d.features().rows().into_iter().map(|r| r.to_vec()).collect() };
        let id = |w: &str| word_id(w, 1000) as f32;
        // "a great great film great": exactly six ids with the start.
        // "a bad film bad acting don't": seven, so the start is cut.
        let (a, great, film, bad) = (id("a"), id("great"), id("film"), id("bad"));
        assert_eq!(
            rows(&imdb.train),
            [vec![1.0, a, great, great, film, great], vec![a, bad, film, bad, id("acting"), id("don't")]]
        );
        assert_eq!(imdb.train.labels().unwrap(), &[1, 0]);
        // Eight words keep their last six; "bad" is padded at the front.
        let last_six = ["here", "and", "there", "and", "everywhere"].map(id);
        assert_eq!(rows(&imdb.test), [[&[id("words")][..], &last_six].concat(), vec![0.0, 0.0, 0.0, 0.0, 1.0, bad]]);
        assert_eq!(imdb.test.labels().unwrap(), &[1, 0]);

        // The test reviews' ids do not depend on the training reviews.
        write(&dir, "train", "neg", "2_1.txt", b"words words words here here everywhere");
        assert_eq!(rows(&load_acl::<f32>(&dir, 1000, 6).unwrap().test), rows(&imdb.test));
        assert!(load_acl::<f32>(&dir.join("nowhere"), 3, 6).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Small files numpy wrote (`scripts/make_imdb_npz_fixture.py`): stored and deflated
    /// members, pickle protocols 4 and 2.
    #[test]
    fn keras_npz_files_become_the_same_sequences() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        for name in ["imdb_small.npz", "imdb_small_compressed.npz", "imdb_small_protocol2.npz"] {
            let imdb = load_npz::<f32>(&dir.join(name), 10_000, 5).unwrap();
            let rows = |d: &Dataset<f32>| -> Vec<Vec<u32>> {
                d.features().rows().into_iter().map(|r| r.iter().map(|v| *v as u32).collect()).collect()
            };
            // Ranks 1, 14, 22, 16 -> 4, 17, 25, 19 after the start token, padded in front;
            // ranks past 10000 are out of the vocabulary; long reviews keep their ends.
            assert_eq!(
                rows(&imdb.train),
                [vec![START, 4, 17, 25, 19], vec![10002, 10003, OUT_OF_VOCABULARY, 6, 10], vec![0, 0, 0, START, 303]],
                "{name}"
            );
            assert_eq!(imdb.train.labels().unwrap(), [1, 0, 1]);
            assert_eq!(rows(&imdb.test), [vec![0, START, 5, 5, 5], vec![0, 0, START, OUT_OF_VOCABULARY, 4]]);
            assert_eq!(imdb.test.labels().unwrap(), [0, 1]);
        }
    }

    #[test]
    fn damaged_npz_files_are_errors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let good = std::fs::read(dir.join("imdb_small_compressed.npz")).unwrap();
        let scratch = std::env::temp_dir().join(format!("dpsgd-npz-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let path = scratch.join("bad.npz");
        // Every truncation, and every single flipped byte, is an error or a valid
        // result, never a panic.
        for cut in (0..good.len()).step_by(7) {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(load_npz::<f32>(&path, 10_000, 5).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x5a;
            std::fs::write(&path, &bytes).unwrap();
            let _ = load_npz::<f32>(&path, 10_000, 5);
        }
        std::fs::write(&path, b"not a zip").unwrap();
        let message = load_npz::<f32>(&path, 10_000, 5).err().unwrap().to_string();
        assert!(message.contains("not a zip archive"), "{message}");
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn words_are_lower_case_runs_without_markup() {
        assert_eq!(tokenize("It's <br />GREAT, isn't it?"), ["it's", "great", "isn't", "it"]);
    }
}
