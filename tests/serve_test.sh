#!/usr/bin/env bash
# llamaref serve end to end, on 127.0.0.1 only: curl and OpenAI's Node.js client against the server.
# usage: serve_test.sh LLAMAREF_BINARY CASE     (exit 77 = skipped: data, numpy, node or the build lack)
#   api      stories260K and the llama2-gqa oracle GGUF: logprobs = log-softmax of `llamaref logits`
#            (and of Meta's logits), echo, stream = whole answer, seeded sampling = generate, chat
#   openai   the same through the npm `openai` package (tests/serve/package.json, `npm ci` there)
#   hostile  bad requests each get a 4xx JSON error; /health still answers
set -uo pipefail
bin="$1"; case="$2"
here="$(cd "$(dirname "$0")" && pwd)"
data="${LLAMAREF_TEST_DATA:-$here/../../shared}"
stories="$data/models/stories260K"
gqa="$data/oracle/llama2-gqa"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$tmp/server.log" ] && tail -5 "$tmp/server.log"; exit 1; }
need() { [ -e "$1" ] || skip "$1 not found (set LLAMAREF_TEST_DATA)"; }
need "$stories/stories260K.bin"
"$bin" serve -m /nonexistent 2>&1 | grep -q "needs cpp-httplib" && skip "this llamaref was built without cpp-httplib"
# a python3 with numpy (the one on PATH, else Debian's)
py=""
for p in python3 /usr/bin/python3; do "$p" -c "import numpy" 2>/dev/null && { py="$p"; break; }; done
[ -n "$py" ] || skip "python3 with numpy is needed"
command -v curl >/dev/null || skip "curl is needed"

source "$here/serve/server.sh"
start_server_checked() { start_server "$@"; health; }
# post PATH JSON OUT: the status code on stdout, the body in OUT
post() { curl -s --max-time 60 -o "$3" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }
health() {
  local code; code=$(curl -s --max-time 10 -o "$tmp/health" -w '%{http_code}' "$url/health")
  [ "$code" = 200 ] || fail "/health answered $code"
}
jget() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
# logits_of RESPONSE OUT.npy MODEL...: `llamaref logits` of the first choice's prompt + generated ids
logits_of() {
  local resp="$1" out="$2"; shift 2
  local ids; ids=$(jget "$resp" "','.join(map(str, r['choices'][0]['prompt_token_ids'] + r['choices'][0]['token_ids']))")
  "$bin" logits "$@" --tokens "$ids" --out "$out" -t 1 2>/dev/null || fail "llamaref logits failed"
}

case "$case" in
api)
  m=(-m "$stories/stories260K.bin" -z "$stories/tok512.bin")
  start_server_checked "${m[@]}"
  [ "$(post /tokenize '{"content":"Once upon a time","add_special":true}' "$tmp/tok")" = 200 ] || fail "/tokenize"
  ids=$(jget "$tmp/tok" "','.join(map(str, r['tokens']))")
  [ "$(post /detokenize "{\"tokens\":[${ids}]}" "$tmp/detok")" = 200 ] || fail "/detokenize"
  [ "$(jget "$tmp/detok" "r['content']")" = "Once upon a time" ] || fail "detokenize(tokenize(x)) != x: $(cat "$tmp/detok")"
  echo "ok: /tokenize -> [$ids] -> /detokenize"
  curl -s --max-time 10 "$url/v1/models" | grep -q '"id":"stories260K.bin"' || fail "/v1/models"
  echo "ok: /v1/models"

  # (a, b) echo + logprobs 5, greedy: every prompt token, log-softmax of `llamaref logits` (prefill)
  post /v1/completions '{"prompt":"Once upon a time","max_tokens":24,"temperature":0,"logprobs":5,"echo":true}' "$tmp/echo.json" >/dev/null
  logits_of "$tmp/echo.json" "$tmp/echo.npy" "${m[@]}"
  "$py" "$here/serve/check_logprobs.py" "$tmp/echo.json" "$tmp/echo.npy" --echo --top 5 || fail "echo logprobs"
  # logprobs of sampled tokens, no echo
  post /v1/completions '{"prompt":"The dog","max_tokens":30,"seed":5,"logprobs":3,"temperature":1.0}' "$tmp/lp.json" >/dev/null
  logits_of "$tmp/lp.json" "$tmp/lp.npy" "${m[@]}"
  "$py" "$here/serve/check_logprobs.py" "$tmp/lp.json" "$tmp/lp.npy" --top 3 || fail "sampled logprobs"
  # --backend ref: the reference functions' logits, through the same flag as `llamaref logits`
  start_server_checked "${m[@]}" --backend ref
  post /v1/completions '{"prompt":[1,403,407,261],"max_tokens":10,"temperature":0,"logprobs":2,"echo":true}' "$tmp/ref.json" >/dev/null
  logits_of "$tmp/ref.json" "$tmp/ref.npy" "${m[@]}" --backend ref
  "$py" "$here/serve/check_logprobs.py" "$tmp/ref.json" "$tmp/ref.npy" --echo --top 2 || fail "--backend ref logprobs"

  # (d) seeded sampling = generate with the same seed and settings
  start_server_checked "${m[@]}"
  set_=(--temp 0.9 --top-k 20 --top-p 0.95 --min-p 0.02 --repeat-penalty 1.1)
  for seed in 7 8; do
    "$bin" generate "${m[@]}" -p "Once upon a time" -n 60 -s $seed "${set_[@]}" -t 1 >"$tmp/gen" 2>/dev/null || fail "generate"
    post /v1/completions "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"seed\":$seed,\"temperature\":0.9,\"top_k\":20,\"top_p\":0.95,\"min_p\":0.02,\"repeat_penalty\":1.1}" "$tmp/s.json" >/dev/null
    jget "$tmp/s.json" "'Once upon a time' + r['choices'][0]['text']" >"$tmp/srv"
    cmp -s "$tmp/gen" "$tmp/srv" || { diff "$tmp/gen" "$tmp/srv" | head; fail "seed $seed: serve's text differs from generate's"; }
    echo "ok: seed $seed: serve's text = generate's ($(wc -c <"$tmp/gen") bytes)"
    # (c) the stream concatenates to the same text and ids
    curl -sN --max-time 60 -H 'Content-Type: application/json' "$url/v1/completions" --data-binary \
      "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"seed\":$seed,\"temperature\":0.9,\"top_k\":20,\"top_p\":0.95,\"min_p\":0.02,\"repeat_penalty\":1.1,\"stream\":true}" >"$tmp/sse"
    "$py" - "$tmp/sse" "$tmp/s.json" <<'PY' || fail "stream"
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert all(l.startswith("data: ") for l in lines), "a line that is not 'data: '"
assert lines[-1] == "data: [DONE]", "no [DONE] at the end"
chunks = [json.loads(l[6:]) for l in lines[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks)
ids = sum((c["choices"][0].get("token_ids", []) for c in chunks), [])
whole = json.load(open(sys.argv[2]))["choices"][0]
assert text == whole["text"], (text, whole["text"])
assert ids == whole["token_ids"]
assert chunks[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]
print(f"ok: the stream ({len(chunks)} chunks) concatenates to the whole text and ids")
PY
  done
  # several clients at once: each gets the answer it gets alone (never mixed); /health answers meanwhile
  for s in 1 2 3 4; do
    post /v1/completions "{\"prompt\":\"Once upon a time\",\"max_tokens\":200,\"seed\":$s,\"logprobs\":1}" "$tmp/alone$s.json" >/dev/null
  done
  cpids=()
  for s in 1 2 3 4; do
    post /v1/completions "{\"prompt\":\"Once upon a time\",\"max_tokens\":200,\"seed\":$s,\"logprobs\":1}" "$tmp/together$s.json" >/dev/null &
    cpids+=($!)
  done
  health
  wait "${cpids[@]}"
  for s in 1 2 3 4; do
    [ "$(jget "$tmp/alone$s.json" "r['choices'][0]")" = "$(jget "$tmp/together$s.json" "r['choices'][0]")" ] ||
      fail "seed $s: the answer with 3 other clients differs from the answer alone"
  done
  echo "ok: 4 clients at once get the answers they get alone"
  # stop strings: the text ends before the first one, in the stream too
  post /v1/completions '{"prompt":"Once upon a time","max_tokens":60,"temperature":0,"stop":["."]}' "$tmp/stop.json" >/dev/null
  [ "$(jget "$tmp/stop.json" "r['choices'][0]['finish_reason'] + str('.' in r['choices'][0]['text'])")" = stopFalse ] || fail "stop string: $(cat "$tmp/stop.json")"
  echo "ok: stop string: $(jget "$tmp/stop.json" "repr(r['choices'][0]['text'])")"
  # chat through the model's template (llama2's for a SentencePiece vocabulary), whole and streamed
  post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":20,"seed":1,"logprobs":true,"top_logprobs":3}' "$tmp/chat.json" >/dev/null
  [ "$(jget "$tmp/chat.json" "len(r['choices'][0]['logprobs']['content']) == len(r['choices'][0]['token_ids'])")" = True ] || fail "chat: $(cat "$tmp/chat.json")"
  echo "ok: chat: $(jget "$tmp/chat.json" "repr(r['choices'][0]['message']['content'])")"

  # the llama2-gqa oracle GGUF (its own vocabulary): 40 ids with echo = Meta's full_logits within 1e-4
  need "$gqa/gguf/model-f32.gguf"
  g=(-m "$gqa/gguf/model-f32.gguf")
  start_server_checked "${g[@]}"
  ids=$("$py" -c "import json; t=json.load(open('$gqa/expected/tokens.json')); print(','.join(map(str, t['prompt'] + t['generated'])))")
  post /v1/completions "{\"prompt\":[$ids],\"max_tokens\":0,\"logprobs\":5,\"echo\":true}" "$tmp/gqa.json" >/dev/null
  logits_of "$tmp/gqa.json" "$tmp/gqa.npy" "${g[@]}"
  "$py" "$here/serve/check_logprobs.py" "$tmp/gqa.json" "$tmp/gqa.npy" --echo --top 5 --ref "$gqa/expected/full_logits.npy" ||
    fail "llama2-gqa echo logprobs"
  post /v1/completions '{"prompt":"hello world","max_tokens":20,"temperature":0.7,"seed":11,"logprobs":4}' "$tmp/gqa2.json" >/dev/null
  logits_of "$tmp/gqa2.json" "$tmp/gqa2.npy" "${g[@]}"
  "$py" "$here/serve/check_logprobs.py" "$tmp/gqa2.json" "$tmp/gqa2.npy" --top 4 || fail "llama2-gqa sampled logprobs"
  health
  echo "ok: serve api" ;;

openai)
  command -v node >/dev/null || skip "node is needed"
  [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] 2>/dev/null || skip "the openai package needs Node.js 20 or later"
  [ -d "$here/serve/node_modules/openai" ] || skip "the npm openai package is not installed (cd tests/serve && npm ci)"
  m=(-m "$stories/stories260K.bin" -z "$stories/tok512.bin")
  start_server_checked "${m[@]}" --api-key test-key
  code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$url/v1/models")
  [ "$code" = 401 ] || fail "no API key: $code, expected 401"
  timeout 120 node "$here/serve/openai_client.mjs" "$url" "$tmp" || fail "the openai client's checks"
  logits_of "$tmp/echo.json" "$tmp/echo.npy" "${m[@]}"
  "$py" "$here/serve/check_logprobs.py" "$tmp/echo.json" "$tmp/echo.npy" --echo --top 3 || fail "echo logprobs"
  "$bin" generate "${m[@]}" -p "Once upon a time" -n 40 -s 7 --temp 0.9 --top-p 0.95 --top-k 20 --min-p 0.02 \
    --repeat-penalty 1.1 -t 1 >"$tmp/gen" 2>/dev/null || fail "generate"
  jget "$tmp/seeded.json" "'Once upon a time' + r['choices'][0]['text']" >"$tmp/srv"
  cmp -s "$tmp/gen" "$tmp/srv" || fail "the openai client's seeded text differs from generate's"
  echo "ok: the openai client's seeded completion = generate -s 7"
  health
  echo "ok: serve openai" ;;

hostile)
  start_server_checked -m "$stories/stories260K.bin" -z "$stories/tok512.bin"
  # expect4xx NAME PATH BODY-FILE: a 4xx status and an OpenAI-style error object, then /health
  expect4xx() {
    local code
    code=$(curl -s --max-time 30 -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$3" "$url$2")
    [[ "$code" =~ ^4[0-9][0-9]$ ]] || fail "$1: status $code: $(head -c 300 "$tmp/resp")"
    "$py" -c "import json,sys; e=json.load(open(sys.argv[1]))['error']; assert isinstance(e['message'], str) and 'type' in e and 'param' in e and 'code' in e" "$tmp/resp" ||
      fail "$1: not an OpenAI error object: $(head -c 300 "$tmp/resp")"
    kill -0 "$pid" 2>/dev/null || fail "$1: the server died"
    health
    echo "ok: $1 -> $code $(head -c 150 "$tmp/resp")"
  }
  body() { printf '%s' "$2" >"$tmp/$1"; }
  c=/v1/completions
  body b1 '{"prompt": "abc", "max_tokens": 3'; expect4xx "truncated JSON" $c "$tmp/b1"
  body b2 '{prompt: abc}'; expect4xx "malformed JSON" $c "$tmp/b2"
  body b3 '[1, 2, 3]'; expect4xx "a non-object body" $c "$tmp/b3"
  body b4 ''; expect4xx "an empty body" $c "$tmp/b4"
  "$py" -c "import sys; sys.stdout.write('{\"prompt\": \"' + 'a' * (10 << 20) + '\"}')" >"$tmp/b5"; expect4xx "a 10 MB body" $c "$tmp/b5"
  body b6 '{"prompt": "abc", "max_tokens": -5}'; expect4xx "negative max_tokens" $c "$tmp/b6"
  body b7 '{"prompt": "abc", "max_tokens": 1000000000000}'; expect4xx "huge max_tokens" $c "$tmp/b7"
  body b8 '{"prompt": "abc", "max_tokens": "16"}'; expect4xx "max_tokens a string" $c "$tmp/b8"
  body b9 '{"prompt": 42}'; expect4xx "prompt a number" $c "$tmp/b9"
  body b10 '{"prompt": "abc", "temperature": -1}'; expect4xx "negative temperature" $c "$tmp/b10"
  body b11 '{"prompt": "abc", "top_p": 0}'; expect4xx "top_p 0" $c "$tmp/b11"
  body b12 '{"prompt": "abc", "n": 5}'; expect4xx "n 5" $c "$tmp/b12"
  body b13 '{"prompt": "abc", "logprobs": 1000}'; expect4xx "logprobs 1000" $c "$tmp/b13"
  body b14 '{"prompt": "abc", "stream": "yes"}'; expect4xx "stream a string" $c "$tmp/b14"
  "$py" -c "import json; print(json.dumps({'prompt': ['a'] * 5000}))" >"$tmp/b15"; expect4xx "5000 prompts" $c "$tmp/b15"
  body b16 '{"prompt": [1, 2, 99999]}'; expect4xx "an id out of range" $c "$tmp/b16"
  body b17 '{"prompt": [1, -2]}'; expect4xx "a negative id" $c "$tmp/b17"
  printf '{"prompt": "a\xff\xfeb"}' >"$tmp/b18"; expect4xx "invalid UTF-8" $c "$tmp/b18"
  body b19 '{"prompt": "a\ud800b"}'; expect4xx "a lone surrogate" $c "$tmp/b19"
  "$py" -c "import json; print(json.dumps({'prompt': 'Once upon a time ' * 400}))" >"$tmp/b20"; expect4xx "a prompt over the context" $c "$tmp/b20"
  "$py" -c "print('[' * 100000 + ']' * 100000)" >"$tmp/b21"; expect4xx "100000 nested lists" $c "$tmp/b21"
  body b22 '{"prompt": []}'; expect4xx "an empty prompt list" $c "$tmp/b22"
  body b23 '{"prompt": "abc", "stop": ["a", "b", "c", "d", "e"]}'; expect4xx "5 stop strings" $c "$tmp/b23"
  body b24 '{"prompt": "abc", "seed": 1.5}'; expect4xx "a fractional seed" $c "$tmp/b24"
  body b25 '{"prompt": "abc", "logit_bias": {"5": 100}}'; expect4xx "logit_bias" $c "$tmp/b25"
  body c1 '{"messages": "hi"}'; expect4xx "chat: messages a string" /v1/chat/completions "$tmp/c1"
  body c2 '{"messages": [{"role": "wizard", "content": "hi"}]}'; expect4xx "chat: unknown role" /v1/chat/completions "$tmp/c2"
  body c3 '{"messages": [{"role": "user"}]}'; expect4xx "chat: no content" /v1/chat/completions "$tmp/c3"
  body c4 '{"messages": [{"role": "assistant", "content": "hi"}]}'; expect4xx "chat: the template refuses the dialog" /v1/chat/completions "$tmp/c4"
  body c5 '{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}'; expect4xx "chat: top_logprobs without logprobs" /v1/chat/completions "$tmp/c5"
  body t1 '{"content": 5}'; expect4xx "tokenize: content a number" /tokenize "$tmp/t1"
  body t2 '{"tokens": [1, 512]}'; expect4xx "detokenize: id out of range" /detokenize "$tmp/t2"
  body n1 '{}'; expect4xx "an unknown endpoint" /v1/embeddings "$tmp/n1"
  # a client that stops reading mid-stream: the run ends, the server goes on
  "$py" - "$port" <<'PY' || fail "a client that leaves mid-stream"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
body = b'{"prompt": "Once upon a time", "max_tokens": 400, "stream": true}'
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
s.recv(200)
s.close()
PY
  # 40 slow connections (a request line, then nothing), more than the server's 32 threads: each is
  # cut off (a 400) after the read time-out of 5 s; /health answers once a thread is free
  "$py" - "$port" <<'PY' || fail "slow connections"
import socket, sys, time, urllib.request
port = int(sys.argv[1])
socks = []
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
t0 = time.time()
assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=20).status == 200
health = time.time() - t0
for s in socks:  # closed, or answered 400 and closed
    got = s.recv(100)
    assert got == b"" or got.startswith(b"HTTP/1.1 400"), got
assert time.time() - t0 < 30, f"slow connections were held for {time.time() - t0:.1f} s"
print(f"ok: 40 slow connections cut off within {time.time() - t0:.1f} s; /health answered after {health:.2f} s")
PY
  sleep 0.5
  health
  post /v1/completions '{"prompt":"Once","max_tokens":5}' "$tmp/after" | grep -q 200 || fail "no answer after the hostile requests"
  # a full queue: 16 long requests at once on a slower model (the llama31-scaled oracle, --backend ref):
  # 8 run or wait and get 200, the others 429 at once (no more than 8 in the queue); /health answers meanwhile
  if [ -e "$data/oracle/llama31-scaled/gguf/model-f32.gguf" ]; then
    start_server_checked -m "$data/oracle/llama31-scaled/gguf/model-f32.gguf" --backend ref -c 2048
    qpids=()
    for i in $(seq 1 16); do
      post /v1/completions '{"prompt":"hello","max_tokens":1000,"temperature":1}' "$tmp/q$i" >"$tmp/q$i.code" &
      qpids+=($!)
    done
    sleep 0.5
    health
    wait "${qpids[@]}"
    all=$(for i in $(seq 1 16); do cat "$tmp/q$i.code"; echo; done)
    codes=$(echo "$all" | sort | uniq -c | tr -s ' \n' ' ')
    # (a request that ends early, at a stop token, frees its place: more than 8 may get 200)
    [ "$(echo "$all" | grep -c '^200$')" -ge 8 ] && [ "$(echo "$all" | grep -c '^429$')" -ge 1 ] &&
      [ "$(echo "$all" | grep -cv '^200$\|^429$')" = 0 ] || fail "16 requests at once:$codes(expected 200 and 429)"
    cat "$tmp"/q[0-9] "$tmp"/q[0-9][0-9] | grep -q '"code":"server_busy"' || fail "a 429 without OpenAI's error object"
    echo "ok: 16 requests at once:$codes(status codes); /health answered meanwhile"
  fi
  echo "ok: serve hostile: every bad request got a 4xx JSON error; /health and completions still answer" ;;
*) echo "unknown case $case"; exit 2 ;;
esac
