-- wrk script for `make bench`: POSTs one JSON body with an access token and a device posture
-- token per call, cycling through a file of pairs (one "access posture" per line) from an offset:
-- a file of one pair is the repeated-token case, a long one gives a new pair on every call.
-- Optional pacing (env WRK_DELAY_MS): each connection waits that many milliseconds after each
-- answer before its next call; without it, no delay hook at all (wrk then never pauses).
-- At the end it prints one JSON line: requests, errors, duration, p50 and p99 in microseconds.
-- Usage: [WRK_DELAY_MS=n] wrk -s calls.lua <url> -- <body file> <pairs file> <offset>
local body = ""
local list = {}
local index = 0
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")

local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  body = slurp(args[1])
  for line in io.lines(args[2]) do
    local access, posture = line:match("^(%S+) (%S+)$")
    if access then list[#list + 1] = { access, posture } end
  end
  index = tonumber(args[3] or "0")
end

function request()
  local pair = list[(index % #list) + 1]
  index = index + 1
  return wrk.format("POST", nil, {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer " .. pair[1],
    ["x-device-posture"] = pair[2],
  }, body)
end

if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
