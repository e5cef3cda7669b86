#!/usr/bin/python3
"""Test-only launcher: Debian's vicc (python3-virtualsmartcard 0.8) as an ICAO ePassport on vpcd.

Runs vicc's own ePass card (its PassportSAM for BAC, its ePass_SE for 3DES secure messaging, its
ISO 7816 OS and its vpcd client) with the files a test wrote to --dir (com.bin, dg1.bin, dg2.bin,
sod.bin), and applies at run time the fixes Debian's copy needs on Python 3. Nothing under /usr is
edited. Each fix says why; see test/helpers/vicc.ts for how a test starts and stops this.

Prints "ready" on stdout once connected to vpcd; exits when vpcd (pcscd) goes away or on SIGTERM.
"""
import argparse
import ctypes
import logging
import os
import signal
import socket
import sys
import time

# Fix 1: Debian installs the package under /usr/lib/python3/site-packages/virtualsmartcard, which
# is on no Python 3 path (Debian's python3 reads dist-packages).
VSC_ROOT = "/usr/lib/python3/site-packages/virtualsmartcard"
sys.path.insert(0, VSC_ROOT)

# Fix 2: CryptoUtils imports PyCrypto's `Crypto` (its fallback `sha` is Python 2 only); Debian ships
# the same API as `Cryptodome` (python3-pycryptodome). Alias the modules vicc imports.
import Cryptodome  # noqa: E402
import Cryptodome.Cipher.AES  # noqa: E402,F401
import Cryptodome.Cipher.ARC4  # noqa: E402,F401
import Cryptodome.Cipher.DES  # noqa: E402,F401
import Cryptodome.Cipher.DES3  # noqa: E402,F401
import Cryptodome.Hash.HMAC  # noqa: E402,F401
import Cryptodome.Hash.MD5  # noqa: E402,F401
import Cryptodome.Hash.SHA  # noqa: E402,F401

for name, module in list(sys.modules.items()):
    if name == "Cryptodome" or name.startswith("Cryptodome."):
        sys.modules["Crypto" + name[len("Cryptodome"):]] = module

import virtualsmartcard.CryptoUtils as vsCrypto  # noqa: E402
from virtualsmartcard.CardGenerator import CardGenerator  # noqa: E402
from virtualsmartcard.SWutils import SW, SwError  # noqa: E402
from virtualsmartcard.SmartcardFilesystem import DF, MF, TransparentStructureEF  # noqa: E402
from virtualsmartcard.VirtualSmartcard import VirtualICC  # noqa: E402
from virtualsmartcard.cards.ePass import PassportSAM, ePass_SE  # noqa: E402
from virtualsmartcard.utils import C_APDU, inttostring  # noqa: E402

LDS1_AID = bytes.fromhex("A0000002471001")
# (file name in --dir, FID, short FID): the LDS1 files vicc's ePass serves. vicc's own generator puts
# EF.SOD at FID 010D (that is DG13) with no content; ICAO 9303-10 has EF.SOD at 011D.
FILES = (("com", 0x011E, 0x1E), ("dg1", 0x0101, 0x01), ("dg2", 0x0102, 0x02), ("sod", 0x011D, 0x1D))


# Fix 3: BAC computes KS_seed = K_icc xor K_ifd with ord() on each item, which are ints in bytes.
def operation_on_string(string1, string2, op):
    if len(string1) != len(string2):
        raise ValueError("string1 and string2 must be of equal length")
    return bytes(op(a, b) & 0xFF for a, b in zip(string1, string2))


vsCrypto.operation_on_string = operation_on_string

# Fix 4: the ePass MAC prepends the send sequence counter as inttostring(ssc), the shortest bytes:
# when the SSC starts with a zero byte (1 session in 256) the MAC is over 7 bytes, not 8, and every
# secure-messaging command of that session fails. ICAO 9303-11: the SSC is 8 bytes.
_crypto_checksum = vsCrypto.crypto_checksum


def crypto_checksum(algo, key, data, iv=None, ssc=None):
    if algo == "CC" and ssc is not None:
        return _crypto_checksum(algo, key, inttostring(ssc, 8) + data, iv)
    return _crypto_checksum(algo, key, data, iv, ssc)


vsCrypto.crypto_checksum = crypto_checksum


def read_objects(body):
    """The secure-messaging data objects of a command body as (tag, raw bytes, value); SM tags are one byte."""
    out, i = [], 0
    while i < len(body):
        tag, start = body[i], i
        n = body[i + 1]
        i += 2
        if n == 0x81:
            n, i = body[i], i + 1
        elif n == 0x82:
            n, i = (body[i] << 8) | body[i + 1], i + 2
        elif n > 0x80:
            raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])
        if i + n > len(body):
            raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])
        out.append((tag, body[start:i + n], body[i:i + n]))
        i += n
    return out


def tlv(tag, value):
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + value


# Fix 5: Security_Environment.parse_SM_CAPDU mixes str and bytes ("".join of byte strings, the
# padding indicator read with stringtoint(value[0]) on an int) so every protected command fails with
# 6988. The same checks, on bytes: MAC (DO'8E') over the padded header and the odd-tag objects, the
# data in DO'87' deciphered, Le from DO'97'.
def parse_SM_CAPDU(self, CAPDU, authenticate_header):
    to_mac = b""
    if authenticate_header:
        header = bytes([CAPDU.cla, CAPDU.ins, CAPDU.p1, CAPDU.p2])
        to_mac = vsCrypto.append_padding(self.cct.blocklength, header)
    data, le, checked = b"", None, False
    for tag, raw, value in read_objects(CAPDU.data):
        if tag == 0x8E:
            mac = self.compute_cryptographic_checksum(0x8E, 0x80, vsCrypto.append_padding(self.cct.blocklength, to_mac))
            if mac != value:
                raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])
            checked = True
            continue
        if tag % 2 == 1:
            to_mac += raw
        if tag in (0x80, 0x81):
            data += value
        elif tag in (0x86, 0x87):
            if value[:1] != b"\x01":
                raise SwError(SW["ERR_SECMESSOBJECTSINCORRECT"])
            data += vsCrypto.strip_padding(self.ct.blocklength, self.decipher(tag, 0x80, value[1:]))
        elif tag in (0x96, 0x97):
            le = int.from_bytes(value, "big")
    if not checked:
        raise SwError(SW["ERR_SECMESSOBJECTSMISSING"])
    return C_APDU(cla=CAPDU.cla, ins=CAPDU.ins, p1=CAPDU.p1, p2=CAPDU.p2, le=le, data=data)


# Fix 6: Security_Environment.protect_response prepends the str "\x01" to the bytes cryptogram (a
# TypeError that kills vicc) and tests `result != ""`, always true for bytes (empty data would be
# enciphered as a padding block). vicc's format otherwise: DO'87' when there is data, DO'8E' over it
# when the status is 9000; no DO'99', and an error status goes out bare.
def protect_response(self, sw, result):
    out = b""
    if result:
        out += tlv(0x87, b"\x01" + self.encipher(0x82, 0x80, result))
    if sw == SW["NORMAL"]:
        mac = self.compute_cryptographic_checksum(0x8E, 0x80, vsCrypto.append_padding(self.cct.blocklength, out))
        out += tlv(0x8E, mac)
    return sw, out


ePass_SE.parse_SM_CAPDU = parse_SM_CAPDU
ePass_SE.protect_response = protect_response


def card_from(directory):
    """The ePass file system from the test's files, with vicc's PassportSAM (it reads the MRZ from DG1)."""
    mf = MF()
    df = DF(parent=mf, fid=4, dfname=LDS1_AID, bertlv_data=[])
    for name, fid, sfi in FILES:
        path = os.path.join(directory, name + ".bin")
        if os.path.exists(path):
            with open(path, "rb") as f:
                df.append(TransparentStructureEF(parent=df, fid=fid, shortfid=sfi, filedescriptor=0, data=f.read()))
    mf.append(df)
    return mf, PassportSAM(mf)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="vpcd's port in the test's pcscd")
    parser.add_argument("--dir", required=True, help="folder with com.bin, dg1.bin, dg2.bin, sod.bin")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to retry connecting to vpcd")
    parser.add_argument("--verbose", action="store_true", help="log every APDU (plain and protected) to stderr")
    args = parser.parse_args()

    # Die with the test process: a test killed by tap's timeout must not leave vicc behind.
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    # Fix 7: vicc's ePass generator asks for the MRZ and a photo path with raw_input() (Python 2) and
    # needs PIL; the card is built from the test's files instead (its SOD included).
    CardGenerator._CardGenerator__generate_ePass = lambda self: self.setCard(*card_from(args.dir))

    # vicc gives up at once when vpcd does not listen yet; pcscd loads the driver a moment after start.
    connect = VirtualICC.connectToPort
    deadline = time.monotonic() + args.connect_timeout

    def connect_with_retry(host, port):
        while True:
            try:
                return connect(host, port)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    VirtualICC.connectToPort = staticmethod(connect_with_retry)
    vicc = VirtualICC(None, "ePass", "127.0.0.1", args.port, logginglevel=logging.DEBUG if args.verbose else logging.WARNING)
    print("ready", flush=True)
    try:
        vicc.run()
    except socket.error:
        pass


if __name__ == "__main__":
    main()
