"""Local identity provider: an RSA key in .local/jwt, tokens signed with it (RS256, 1 hour)."""
import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _key_paths(key_dir: str):
    return os.path.join(key_dir, "signing-key.pem"), os.path.join(key_dir, "signing-key.pub.pem")


def ensure_keys(key_dir: str) -> None:
    private, public = _key_paths(key_dir)
    if os.path.exists(private):
        return
    os.makedirs(key_dir, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(private, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(public, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def public_key(key_dir: str) -> bytes:
    ensure_keys(key_dir)
    with open(_key_paths(key_dir)[1], "rb") as f:
        return f.read()


def mint(key_dir: str, issuer: str, audience: str, sub: str, groups: list, adult: bool) -> str:
    ensure_keys(key_dir)
    with open(_key_paths(key_dir)[0], "rb") as f:
        private = f.read()
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": sub, "iat": now, "exp": now + 3600}
    if groups:
        claims["cognito:groups"] = groups
    if adult:
        claims["age_verified"] = "true"
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": "local"})


def verify(key_dir: str, issuer: str, audiences: list, token: str) -> dict:
    """What API Gateway's JWT authorizer checks: signature, issuer, audience, expiry (raises)."""
    return jwt.decode(token, public_key(key_dir), algorithms=["RS256"], issuer=issuer, audience=audiences,
                      options={"require": ["exp", "iss", "aud", "sub"]})
