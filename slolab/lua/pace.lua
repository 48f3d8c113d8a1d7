-- Constant offered rate for wrk (appended to a workload script by bench/wrk.py).
-- Args: total rate (requests/s) and wrk's thread count. Every send takes the next
-- slot of a fixed per-thread schedule (t0 + k * interval). A connection only sends
-- after its previous response, so when all connections are busy a slot is sent
-- late: those late sends are counted, and their lateness is NOT in wrk's latency
-- (coordinated omission), which is why the harness reports them.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval_ms, t0, slot = nil, nil, 0
sent, late, max_late_ms = 0, 0, 0

function init(args)
  local rate, threads = tonumber(args[1]), tonumber(args[2])
  interval_ms = 1000 * threads / rate
end

function delay()
  if t0 == nil then t0 = now_ms() end
  local due = t0 + slot * interval_ms
  slot = slot + 1
  sent = sent + 1
  local wait = due - now_ms()
  if wait < -1 then -- more than a millisecond behind schedule
    late = late + 1
    if -wait > max_late_ms then max_late_ms = -wait end
  end
  return wait > 0 and math.floor(wait) or 0
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local s, l, m = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    l = l + t:get("late")
    m = math.max(m, t:get("max_late_ms"))
  end
  io.write(string.format("Pace: sent %d, late %d, max late %.1fms\n", s, l, m))
end
