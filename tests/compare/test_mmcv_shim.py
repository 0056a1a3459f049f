"""The mmcv stand-in: installed names, and checkpoints that pickle whole official models."""
import io
import sys

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def shim(monkeypatch):
    from goldyolo.compare import mmcv_shim
    names = ("mmcv", "mmcv.cnn", *mmcv_shim.FORMER_NAMES)
    before = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    monkeypatch.setattr(mmcv_shim.ConvModule, "__module__", mmcv_shim.ConvModule.__module__)
    installed = mmcv_shim.install_if_missing()
    yield mmcv_shim if installed else pytest.skip("the real mmcv is installed")
    for name in names:
        sys.modules.pop(name, None)
    sys.modules.update(before)


def test_pickled_module_names_the_mmcv_path(shim):
    from mmcv.cnn import ConvModule
    block = ConvModule(3, 4, 3, norm_cfg=dict(type="BN"))
    data = io.BytesIO()
    torch.save({"model": block}, data)
    assert b"mmcv.cnn" in data.getvalue() and b"goldyolo" not in data.getvalue()
    data.seek(0)
    back = torch.load(data, weights_only=False)["model"]
    assert type(back) is shim.ConvModule
    assert list(back.state_dict()) == list(block.state_dict())


def test_checkpoint_naming_the_former_module_loads(shim, monkeypatch):
    block = shim.ConvModule(3, 4, 1, norm_cfg=dict(type="BN"))
    monkeypatch.setattr(shim.ConvModule, "__module__", shim.FORMER_NAMES[0])
    data = io.BytesIO()
    torch.save(block, data)
    assert shim.FORMER_NAMES[0].encode() in data.getvalue()
    monkeypatch.setattr(shim.ConvModule, "__module__", "mmcv.cnn")
    data.seek(0)
    back = torch.load(data, weights_only=False)
    assert type(back) is shim.ConvModule
    torch.testing.assert_close(back.conv.weight, block.conv.weight)
