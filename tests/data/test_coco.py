"""COCO export / import: the layout, an exact round trip, and one one-line DataError per kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from visionbench.data._detection import DetectionSplit
from visionbench.data.coco import load_coco_dataset, read_coco, read_coco_split
from visionbench.data.digits import load_digits
from visionbench.data.export import export_coco
from visionbench.data.scenes import SceneConfig, make_scenes
from visionbench.errors import DataError


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(load_digits(), SceneConfig(train_scenes=12, test_scenes=5, canvas=64, max_scale=32))


def _same_split(a: DetectionSplit, b: DetectionSplit) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
    for ta, tb in zip(a.targets, b.targets):
        assert tb["boxes"].dtype == np.float32 and tb["labels"].dtype == np.int64
        assert ta["boxes"].tobytes() == tb["boxes"].tobytes()  # exact, bit for bit
        np.testing.assert_array_equal(ta["labels"], tb["labels"])


def test_export_layout_and_json(scenes, tmp_path: Path) -> None:
    files = export_coco(scenes, tmp_path / "out")
    assert set(files) == {"train", "test"}
    assert files["train"] == tmp_path / "out" / "annotations" / "instances_train.json"
    assert len(list((tmp_path / "out" / "images" / "train").glob("*.png"))) == 12
    doc = json.loads(files["train"].read_text())
    assert doc["images"][0] == {"id": 1, "file_name": "000001.png", "width": 64, "height": 64}
    assert doc["categories"][0] == {"id": 1, "name": "0"} and len(doc["categories"]) == 10
    ann = doc["annotations"][0]
    assert ann["id"] == 1 and ann["iscrowd"] == 0 and all(isinstance(v, float) for v in ann["bbox"])
    x1, y1, x2, y2 = scenes.train.targets[0]["boxes"][0].tolist()
    assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1] and ann["area"] == (x2 - x1) * (y2 - y1)
    assert ann["category_id"] == int(scenes.train.targets[0]["labels"][0]) + 1
    assert doc["info"]["visionbench"]["scenes"]["canvas"] == 64
    assert not list((tmp_path / "out").rglob("*.tmp"))  # no temporary file left behind


def test_round_trip_exact(scenes, tmp_path: Path) -> None:
    export_coco(scenes, tmp_path)
    coco = read_coco(tmp_path)
    assert coco.classes == scenes.classes and coco.category_ids == list(range(1, 11))
    _same_split(scenes.train, coco.splits["train"])
    _same_split(scenes.test, coco.splits["test"])
    ds = load_coco_dataset(tmp_path)
    assert ds.name == f"coco:{tmp_path.resolve()}" and ds.task == "detection" and ds.in_chans == 1
    assert ds.info["coco_info"]["visionbench"]["scenes"] == scenes.info["scenes"]
    _same_split(scenes.test, ds.test)
    # A single JSON finds its images folder.
    split, classes, *_ = read_coco_split(tmp_path / "annotations" / "instances_test.json")
    _same_split(scenes.test, split)
    # A third split beside train and test is never opened by the dataset loader (its images are not decoded).
    (tmp_path / "annotations" / "instances_val.json").write_text("{ not json")
    _same_split(scenes.test, load_coco_dataset(tmp_path).test)
    with pytest.raises(DataError, match="instances_val.json"):
        read_coco(tmp_path)  # reading every split does open it


def test_round_trip_rgb_fractional_boxes_mixed_sizes_and_empty_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (3, 20, 30), dtype=np.uint8), rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)]
    boxes = np.array([[0.25, 1.1, 29.75, 19.9], [3.3333, 2.5, 7.123, 9.0]], np.float32)
    targets = [
        {"boxes": boxes, "labels": np.array([2, 0], np.int64)},
        {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)},
    ]
    split = DetectionSplit(images, targets)
    export_coco(split, tmp_path, ["a", "b", "c"], split="val")
    coco = read_coco(tmp_path)
    back = coco.splits["val"]
    assert isinstance(back.images, list) and back.images[0].shape == (3, 20, 30)
    np.testing.assert_array_equal(back.images[0], images[0])
    np.testing.assert_array_equal(back.images[1], images[1])
    assert back.targets[0]["boxes"].tobytes() == boxes.tobytes()
    assert back.targets[1]["boxes"].shape == (0, 4) and back.targets[1]["labels"].shape == (0,)
    with pytest.raises(DataError, match="need annotations/instances_train.json"):
        load_coco_dataset(tmp_path)


def test_foreign_file_ids_crowd_and_grey_rgb_mix(tmp_path: Path) -> None:
    """Non-contiguous category ids map to 0..K-1 in id order; crowd regions are skipped; grey joins RGB."""
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.full((10, 12), 7, np.uint8)).save(tmp_path / "imgs" / "a.png")
    Image.fromarray(np.full((10, 12, 3), 9, np.uint8)).save(tmp_path / "imgs" / "b.jpg", quality=100)
    doc = {
        "images": [{"id": 10, "file_name": "a.png", "width": 12, "height": 10}, {"id": 20, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 5, "image_id": 10, "category_id": 90, "bbox": [1, 1, 3, 4]},
            {"id": 6, "image_id": 20, "category_id": 3, "bbox": [0, 0, 12, 10], "iscrowd": 1},
            {"id": 7, "image_id": 20, "category_id": 3, "bbox": [2.5, 2, 1, 1]},
        ],
        "categories": [{"id": 90, "name": "toothbrush"}, {"id": 3, "name": "car"}],
    }
    (tmp_path / "val.json").write_text(json.dumps(doc))
    coco = read_coco(tmp_path / "val.json", images_dir=tmp_path / "imgs")
    assert coco.classes == ["car", "toothbrush"] and coco.category_ids == [3, 90]
    assert coco.crowd_skipped == {"val": 1}
    split = coco.splits["val"]
    assert split.images.shape == (2, 3, 10, 12) and (split.images[0] == 7).all()
    np.testing.assert_array_equal(split.targets[0]["labels"], [1])
    np.testing.assert_array_equal(split.targets[0]["boxes"], [[1, 1, 4, 5]])
    np.testing.assert_array_equal(split.targets[1]["boxes"], [[2.5, 2, 3.5, 3]])


def _good_doc() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "1.png", "width": 16, "height": 16}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2.0, 2.0, 5.0, 6.0], "area": 30.0}],
        "categories": [{"id": 1, "name": "one"}],
    }


def _edit(doc: dict[str, Any], case: str) -> Any:
    if case == "not-object":
        return [doc]
    if case == "missing-images":
        del doc["images"]
    elif case == "missing-bbox":
        del doc["annotations"][0]["bbox"]
    elif case == "missing-file-name":
        del doc["images"][0]["file_name"]
    elif case == "unknown-image":
        doc["annotations"][0]["image_id"] = 9
    elif case == "unknown-category":
        doc["annotations"][0]["category_id"] = 9
    elif case == "zero-width":
        doc["annotations"][0]["bbox"][2] = 0
    elif case == "negative-height":
        doc["annotations"][0]["bbox"][3] = -1.0
    elif case == "outside":
        doc["annotations"][0]["bbox"] = [10.0, 2.0, 7.0, 3.0]
    elif case == "negative-x":
        doc["annotations"][0]["bbox"] = [-2.0, 2.0, 5.0, 3.0]
    elif case == "bbox-not-4-numbers":
        doc["annotations"][0]["bbox"] = [1, 2, "3", 4]
    elif case == "duplicate-image-id":
        doc["images"].append({"id": 1, "file_name": "1.png", "width": 16, "height": 16})
    elif case == "duplicate-annotation-id":
        doc["annotations"].append(dict(doc["annotations"][0]))
    elif case == "duplicate-category-id":
        doc["categories"].append({"id": 1, "name": "uno"})
    elif case == "missing-image-file":
        doc["images"][0]["file_name"] = "nope.png"
        doc["images"].insert(0, {"id": 2, "file_name": "1.png", "width": 16, "height": 16})
    elif case == "not-an-image":
        doc["images"][0]["file_name"] = "junk.png"
    elif case == "category-true":
        doc["annotations"][0]["category_id"] = True
    elif case == "image-id-float":
        doc["annotations"][0]["image_id"] = 1.0
    elif case == "file-name-climbs":
        doc["images"][0]["file_name"] = "../1.png"
    elif case == "file-name-absolute":
        doc["images"][0]["file_name"] = "/etc/1.png"
    elif case == "size-mismatch":
        doc["images"][0]["width"] = 20
    elif case == "outside-actual-size":
        del doc["images"][0]["width"]
        doc["annotations"][0]["bbox"] = [12.0, 2.0, 5.0, 3.0]
    return doc


BAD_CASES = {
    "not-json": "not valid JSON",
    "not-object": "top level is a JSON list",
    "missing-images": "missing key 'images'",
    "missing-bbox": "annotations\\[0\\] has no 'bbox'",
    "missing-file-name": "images\\[0\\] has no 'file_name'",
    "unknown-image": "annotation id 1 points at image id 9",
    "unknown-category": "annotation id 1 points at category id 9",
    "zero-width": "negative or zero width",
    "negative-height": "negative or zero width or height",
    "outside": "outside its 16x16 image",
    "negative-x": "outside its 16x16 image",
    "bbox-not-4-numbers": "not a list of 4 finite numbers",
    "duplicate-image-id": "duplicate image id 1",
    "duplicate-annotation-id": "duplicate annotation id 1",
    "duplicate-category-id": "duplicate category id 1",
    "missing-image-file": "nope.png does not exist",
    "not-an-image": "junk.png is not a readable image",
    "size-mismatch": "says 20x16 but .*1.png is 16x16",
    # found by benchmarks/fuzz.py: true matched category id 1; file names could point anywhere on the disk
    "category-true": "annotations\\[0\\] has category_id True, not an integer",
    "image-id-float": "annotations\\[0\\] has image_id 1.0, not an integer",
    "file-name-climbs": "file_name '../1.png', which leaves the images folder",
    "file-name-absolute": "file_name '/etc/1.png', which leaves the images folder",
    "outside-actual-size": "outside its 16x16 image",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_coco_files_give_one_line_data_errors(case: str, tmp_path: Path) -> None:
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "1.png")
    (tmp_path / "junk.png").write_bytes(b"this is not a png at all")
    json_path = tmp_path / "instances_bad.json"
    if case == "not-json":
        json_path.write_text('{"images": [')
    else:
        json_path.write_text(json.dumps(_edit(_good_doc(), case)))
    with pytest.raises(DataError, match=BAD_CASES[case]) as info:
        read_coco(json_path)
    message = str(info.value)
    assert "\n" not in message and str(json_path) in message


def test_good_doc_reads(tmp_path: Path) -> None:
    """The base of the bad cases is itself valid (so each case fails for its own reason)."""
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "1.png")
    (tmp_path / "instances_ok.json").write_text(json.dumps(_good_doc()))
    split = read_coco(tmp_path / "instances_ok.json").splits["ok"]
    np.testing.assert_array_equal(split.targets[0]["boxes"], [[2, 2, 7, 8]])


def test_missing_folder_and_folder_without_annotations(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_coco_dataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no annotations/instances_<split>.json"):
        read_coco(tmp_path)


@pytest.mark.parametrize("damage", ["bomb", "memory"])
def test_hostile_image_is_one_line(damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found by benchmarks/fuzz.py: a PNG claiming 65536x65536 pixels (Pillow's DecompressionBombError) and a chunk
    # length asking for gigabytes (MemoryError under a memory limit) escaped the COCO reader as tracebacks
    from _data_formats import png_claiming

    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "1.png")
    if damage == "bomb":
        (tmp_path / "1.png").write_bytes(png_claiming(65536, 65536))
    else:
        def no_memory(*args: Any, **kwargs: Any) -> Any:
            raise MemoryError

        monkeypatch.setattr(Image.Image, "convert", no_memory)
    (tmp_path / "instances_x.json").write_text(json.dumps(_good_doc()))
    with pytest.raises(DataError, match="1.png is not a readable image") as info:
        read_coco(tmp_path / "instances_x.json")
    assert "\n" not in str(info.value)


def test_png_with_a_damaged_chunk_is_refused(tmp_path: Path) -> None:
    # found by benchmarks/fuzz.py: a flipped bit in the pixel data of a PNG loaded as other pixels
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).save(tmp_path / "1.png")
    raw = (tmp_path / "1.png").read_bytes()
    at = raw.index(b"IDAT") + 8
    (tmp_path / "1.png").write_bytes(raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :])
    (tmp_path / "instances_x.json").write_text(json.dumps(_good_doc()))
    with pytest.raises(DataError, match="damaged PNG: chunk b'IDAT' fails its CRC check"):
        read_coco(tmp_path / "instances_x.json")
