"""The baseline for bench_edge.py: a bare FastAPI app returning a JSON body of the same size, no edge."""

from fastapi import FastAPI

app = FastAPI()

BODY = {
    "permissions": ["vsm.read", "vsm.write", "agents.manage", "llm.access", "goldrush.admin"],
    "roles": ["admin", "operator"],
    "resource_access": {f"system_{n}": ["read", "write"] for n in range(1, 6)},
}


@app.get("/api/auth/permissions")
async def permissions() -> dict[str, object]:
    return BODY


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
