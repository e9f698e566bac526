"""A bounded load test of the real server: a burst of hundreds of clients at once, every one answered."""

import http.client
import json
import threading
import time
import urllib.parse

CLIENTS = 300  # connections opened at the same instant, one POST /predict each
BUDGET = 120  # seconds the whole burst may take on a loaded 2-core machine (it takes about 5)


def burst(url: str, bodies: list[bytes]) -> tuple[dict[int, int], list[str], float]:
    """({client: status}, [errors], seconds): every body POSTed on its own connection, all released at once."""
    u = urllib.parse.urlsplit(url)
    statuses, errors = {}, []
    gate = threading.Barrier(len(bodies) + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=BUDGET)
        gate.wait()
        try:
            conn.request("POST", "/predict", body=bodies[i], headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            json.loads(r.read())
            statuses[i] = r.status
        except Exception as e:  # counted below: a reset or a timeout is a request not answered
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(bodies))]
    for t in threads:
        t.start()
    gate.wait()
    start = time.monotonic()
    for t in threads:
        t.join(max(0.0, BUDGET - (time.monotonic() - start)))
    return statuses, errors, time.monotonic() - start


def test_a_burst_of_hundreds_of_clients_is_answered_in_full(server_url, mnist):  # noqa: F811
    bodies = [json.dumps({"pixels": mnist.x_test[i % 100].tolist()}).encode() for i in range(CLIENTS - 20)]
    bodies += [b'{"pixels": "not pixels"}'] * 20  # bad requests in the same burst get their 400, not a reset
    statuses, errors, seconds = burst(server_url, bodies)
    assert not errors, f"{len(errors)} of {CLIENTS} unanswered, e.g. {errors[:3]}"
    assert sorted(statuses) == list(range(CLIENTS)) and seconds < BUDGET
    assert [statuses[i] for i in range(CLIENTS)] == [200] * (CLIENTS - 20) + [400] * 20

