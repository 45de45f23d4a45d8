-- wrk script: sends requests at a fixed total rate (requests/s, the first script argument)
-- instead of as fast as responses come back, so latency is measured at a given load.
--   wrk -t1 -c16 -d10s --latency -s benches/paced.lua URL -- 5000
-- Each request takes the next slot of one schedule shared by the thread's connections; a
-- connection that is early waits for its slot (wrk delays in whole milliseconds, so the rate
-- holds on average). wrk measures latency from the moment a request is written.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
  int clock_gettime(int clock, paced_timespec *ts);
]]
local ts = ffi.new("paced_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval
local next_at

function init(args)
  local rate = tonumber(args[1])
  if rate == nil or rate <= 0 then
    error("paced.lua: give the rate, e.g. -- 5000")
  end
  interval = 1000 / rate
end

function delay()
  local t = now_ms()
  -- After a stall, start the schedule again from now rather than sending a burst.
  if next_at == nil or next_at < t - 100 then
    next_at = t
  end
  next_at = next_at + interval
  local wait = next_at - t
  if wait < 1 then
    return 0
  end
  return math.floor(wait)
end
