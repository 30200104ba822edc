# SPDX-License-Identifier: GPL-3.0-or-later
"""Seeds for the file readers' fuzz targets (README.md here), written with the test venv's numpy,
h5py, hdf5plugin and py4DSTEM: make_file_seeds.py DIR fills DIR/npy, DIR/mib, DIR/emd, DIR/dectris
and DIR/config. Small files: libFuzzer's -max_len follows the largest seed.
"""
import pathlib
import shutil
import sys

import h5py
import hdf5plugin
import numpy as np


def main():
    out = pathlib.Path(sys.argv[1])
    for d in ("npy", "mib", "emd", "dectris", "config"):
        (out / d).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    frames = rng.poisson(2.0, size=(2, 3, 8, 12))

    # npy: each dtype the readers accept or refuse, 0-d to 4-D, versions 1.0 and 2.0.
    for dt in ("u1", "<u2", "<u4", "<f4", "<f8", "<i2", "|b1", ">u2", "<f2", "<u8"):
        np.save(out / "npy" / f"scan_{dt.strip('<>|')}{'_be' if dt[0] == '>' else ''}.npy",
                frames.astype(dt))
    np.save(out / "npy" / "frames3d.npy", frames.reshape(6, 8, 12).astype("<u2"))
    np.save(out / "npy" / "scalar.npy", np.float64(3.5))
    np.save(out / "npy" / "fortran.npy", np.asfortranarray(frames[0, 0].astype("<u2")))
    with open(out / "npy" / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, frames.astype("<u2"), version=(2, 0))

    # mib: two small frames per pixel type, and 12-bit raw (one 256 x 256 chip, as Merlin writes it).
    def mq1(seq, width, height, ptype, depth):
        text = (f"MQ1,{seq:06d},00384,01,{width:04d},{height:04d},{ptype},   1x1,01,"
                "2024-01-01 00:00:00.000000,0.001000,0,0,0,1.000000E+1,0.000000E+0,0.000000E+0,"
                "0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,"
                f"MQ1A,2024-01-01T00:00:00.000000000Z,1000000ns,{depth},")
        return text.encode().ljust(384, b"\0")
    for ptype, dt, depth in (("U01", ">u1", 1), ("U08", ">u1", 6), ("U16", ">u2", 12),
                             ("U32", ">u4", 24), ("U64", ">u8", 24)):
        body = b"".join(mq1(i + 1, 12, 8, ptype, depth) + frames[0, i].astype(dt).tobytes()
                        for i in range(2))
        (out / "mib" / f"{ptype}.mib").write_bytes(body)
    raw = rng.integers(0, 4096, 256 * 256).astype(">u2").reshape(-1, 4)[:, ::-1].tobytes()
    (out / "mib" / "R64_12.mib").write_bytes(mq1(1, 256, 256, "R64", 12) + raw)

    # emd: a py4DSTEM DataCube (py4DSTEM.save), a gzip one by h5py, and a bare 4-D array.
    import py4DSTEM
    py4DSTEM.save(str(out / "emd" / "py4dstem.h5"), py4DSTEM.DataCube(frames.astype("<u2")),
                  mode="o")
    with h5py.File(out / "emd" / "gzip.emd", "w") as f:
        f.attrs["emd_group_type"] = "file"
        g = f.create_group("root/datacube")
        g.attrs["emd_group_type"] = "array"
        g.attrs["python_class"] = "DataCube"
        g.create_dataset("data", data=frames.astype("<f4"), chunks=(1, 1, 8, 12),
                         compression="gzip")
    with h5py.File(out / "emd" / "bare.h5", "w") as f:
        f.create_dataset("scan/data", data=frames.astype("u1"))

    # dectris: data files (bslz4 and lz4, one image per chunk; uncompressed contiguous) and a master
    # whose data_000001 links to a data file beside it.
    imgs = frames.reshape(6, 8, 12)
    for name, dt, kw in (("bslz4_u16", "<u2", hdf5plugin.Bitshuffle(cname="lz4")),
                         ("bslz4_u32", "<u4", hdf5plugin.Bitshuffle(cname="lz4")),
                         ("lz4_u8", "u1", hdf5plugin.LZ4()), ("none_u16", "<u2", None)):
        with h5py.File(out / "dectris" / f"{name}_data_000001.h5", "w") as f:
            ds = f.create_dataset("entry/data/data", data=imgs.astype(dt),
                                  chunks=(1, 8, 12) if kw else None,
                                  **(kw if kw else {}))
            ds.attrs["image_nr_low"] = np.int32(1)
            ds.attrs["image_nr_high"] = np.int32(6)
    with h5py.File(out / "dectris" / "bslz4_u16_master.h5", "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("bslz4_u16_data_000001.h5",
                                                        "/entry/data/data")
        det = f.create_group("entry/instrument/detector")
        det["count_time"] = 0.001
        det["description"] = "Dectris EIGER2 Si 500K"
        det["detectorSpecific/x_pixels_in_detector"] = np.uint32(12)
        f["entry/instrument/beam/incident_wavelength"] = 0.0251

    # config: the examples, and the configurations the tests write.
    root = pathlib.Path(__file__).resolve().parents[2]
    for p in sorted((root / "config" / "examples").glob("*.toml")):
        shutil.copy(p, out / "config" / p.name)
    (out / "config" / "replay.toml").write_text(
        '[input]\nsource = "file"\npath = "scan.npy"\n[scan]\nshape = [4, 3]\n'
        '[pipeline]\nbatch_frames = 8\nmemory_limit = "8MiB"\n'
        '[[operators]]\ntype = "virtual_image"\nname = "bf"\ndetector = "circle"\n'
        'center = [32.3, 31.8]\nradius = 5.5\n'
        '[[operators]]\ntype = "virtual_image"\nname = "adf"\ndetector = "annulus"\n'
        'center = [32.3, 31.8]\nradii = [8.0, 24.0]\n'
        '[[operators]]\ntype = "center_of_mass"\nname = "com"\n'
        '[outputs.hdf5]\npath = "out.h5"\nif_exists = "overwrite"\n')


if __name__ == "__main__":
    main()
