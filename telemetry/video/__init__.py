"""Video ingest: RTP/H.264 streams into segment files, a pre-event ring buffer,
hashed evidence clips and snapshots, retention, and a live preview frame."""

from telemetry.video.blobs import BlobStore, LocalBlobStore
from telemetry.video.depacketize import TIMESTAMP_SEI_UUID, AccessUnit, H264Depacketizer
from telemetry.video.errors import (
    BlobError,
    EvidenceUnavailableError,
    VideoConfigError,
    VideoError,
)
from telemetry.video.evidence import VideoEvidence
from telemetry.video.index import (
    MemoryVideoIndex,
    SegmentRow,
    VideoGap,
    VideoIndex,
    VideoSegmentRecord,
)
from telemetry.video.ingest import EvidenceSet, IngestConfig, IngestState, IngestStats, VideoIngest
from telemetry.video.preview import PreviewFrame
from telemetry.video.recorder import VideoRecorder
from telemetry.video.retention import RetentionReport, apply_retention
from telemetry.video.sdp import VideoSource, read_sdp

__all__ = [
    "TIMESTAMP_SEI_UUID",
    "AccessUnit",
    "BlobError",
    "BlobStore",
    "EvidenceSet",
    "EvidenceUnavailableError",
    "H264Depacketizer",
    "IngestConfig",
    "IngestState",
    "IngestStats",
    "LocalBlobStore",
    "MemoryVideoIndex",
    "PreviewFrame",
    "RetentionReport",
    "SegmentRow",
    "VideoConfigError",
    "VideoError",
    "VideoEvidence",
    "VideoGap",
    "VideoIndex",
    "VideoIngest",
    "VideoRecorder",
    "VideoSegmentRecord",
    "VideoSource",
    "apply_retention",
    "read_sdp",
]
