"""Words per second of Pretext's word2vec step beside gensim's Word2Vec (its C/Cython implementation) on the same
corpus, vocabulary and settings, and the neighbours each learns. One run of each (the fastest of --repeats
alternating runs), on one thread unless --threads:

    OMP_NUM_THREADS=1 .venv/bin/python bench/word2vec_speed.py --dataset text --epochs 5

Both see the same token lists (the run's vocabulary; words under min_count dropped, as gensim drops them), the
same window, negatives, dimension, subsampling threshold and linear learning-rate decay (0.025 to 0.0001). Words
per second counts the corpus words consumed, subsampled ones included, as gensim's own log does. gensim is in the
``bench`` extra (pip install -e '.[bench]').
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="text", choices=("text", "captions"))
    parser.add_argument("--path", default="", help="a .txt file or folder for --dataset text (default: fortunes)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--architecture", default="skip-gram", choices=("skip-gram", "cbow"))
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--negative-group", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating; the fastest is reported")
    parser.add_argument("--skip-gensim", action="store_true")
    args = parser.parse_args()

    import torch

    from engine.data import load_dataset
    from engine.text.base import FIRST_WORD, word_counts
    from engine.text.evaluation import WordVectors, analogy_accuracy, analogy_results, attribute_neighbour_score
    from engine.text.evaluation import probe_words as pick_probes
    from engine.text.word2vec import Word2Vec, Word2VecConfig

    torch.set_num_threads(args.threads)
    corpus = load_dataset(args.dataset, {"path": args.path} if args.path else {})
    vocabulary = corpus.fit_vocabulary()
    ids = vocabulary.encode(corpus.train)
    words = vocabulary.words
    sentences = [[words[i] for i in passage if i >= FIRST_WORD] for passage in ids]
    total = sum(len(p) for p in ids)  # corpus words, [UNK] included, as gensim counts raw words
    print(f"{corpus.description}: {len(corpus.train):,} passages, {total:,} words, vocabulary {len(vocabulary):,}; "
          f"{args.architecture}, dim {args.dim}, window {args.window}, negatives {args.negatives}, sample "
          f"{args.sample}, {args.epochs} epochs, {args.threads} thread(s)")

    config = Word2VecConfig(architecture=args.architecture, dim=args.dim, window=args.window,
                            negatives=args.negatives, sample=args.sample, negative_group=args.negative_group)
    known = sum(len(s) for s in sentences)

    def train_pretext():
        torch.manual_seed(0)
        method = Word2Vec(vocabulary, word_counts(ids, len(vocabulary)), config)
        method.prepare_corpus(ids, args.batch_size, seed=0)
        budget, done, step = args.epochs * known, 0, 0
        started = time.perf_counter()
        while done < budget:
            lr = max(1e-4, 0.025 * (1 - done / budget))
            done += method.training_step(step, lr, torch.Generator().manual_seed(step)).words
            step += 1
        return WordVectors(words, method.word_vectors()), time.perf_counter() - started

    def train_gensim():
        import numpy as np
        from gensim.models import Word2Vec as GensimWord2Vec

        started = time.perf_counter()
        model = GensimWord2Vec(sentences, vector_size=args.dim, window=args.window, negative=args.negatives,
                               sg=int(args.architecture == "skip-gram"), min_count=1, sample=args.sample,
                               workers=args.threads, epochs=args.epochs, seed=0, alpha=0.025, min_alpha=1e-4)
        seconds = time.perf_counter() - started
        vectors = np.zeros((len(words), args.dim), np.float32)
        for word, index in model.wv.key_to_index.items():
            vectors[vocabulary.id_of(word)] = model.wv.vectors[index]
        return WordVectors(words, torch.from_numpy(vectors)), seconds

    trainers = {"pretext": train_pretext} if args.skip_gensim else {"pretext": train_pretext, "gensim": train_gensim}
    results = {}
    for _ in range(args.repeats):  # alternating, the fastest of each kept: a shared machine's load varies
        for name, train in trainers.items():
            vectors, seconds = train()
            if name not in results or seconds < results[name][1]:
                results[name] = (vectors, seconds)

    probes = pick_probes(results["pretext"][0], corpus.attribute_words)
    for name, (vectors, seconds) in results.items():
        rate = args.epochs * total / seconds
        quality = []
        if corpus.attribute_words:
            score = attribute_neighbour_score(vectors, corpus.attribute_words)
            quality.append(f"attribute-neighbour score {score:.3f}")
        if found := analogy_results(vectors, corpus.analogies):
            quality.append(f"analogies {analogy_accuracy(found):.0%} of {len(found)}")
        print(f"\n{name}: {seconds:.1f} s, {rate:,.0f} words/s" + (f"; {', '.join(quality)}" if quality else ""))
        for word in probes:
            print(f"  {word}: " + ", ".join(w for w, _ in vectors.neighbours(word, 8)))
    if "gensim" in results:
        ratio = results["gensim"][1] / results["pretext"][1]
        print(f"\npretext's words/s are {ratio:.2f} x gensim's")


if __name__ == "__main__":
    main()
