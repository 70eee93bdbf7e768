-- The load benchmark's wrk script (bench/wrk.py runs it): GET wrk's URL over and over, the
-- Cookie header rotating over signed-in sessions, answers counted by status, and one JSON line
-- at the end. Arguments after "--":
--   1. a file of Cookie header values, one a line (an empty file: no Cookie header)
--   2. the User-Agent to send (the one the sessions signed in with)
--   3. most answers per thread, then the thread stops (0: no limit but the duration)
--   4. every Nth request asks for "Connection: close" (0: never), so connections are recycled
--      as a proxy's keep-alive limit would, and reconnect to whichever worker is least busy

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   local headers = { ["User-Agent"] = args[2] }
   max_answers = tonumber(args[3]) or 0
   close_every = tonumber(args[4]) or 0
   keep, close = {}, {}
   for line in io.lines(args[1]) do
      if line ~= "" then
         headers["Cookie"] = line
         table.insert(keep, wrk.format("GET", wrk.path, headers))
      end
   end
   if #keep == 0 then
      table.insert(keep, wrk.format("GET", wrk.path, headers))
   end
   for i, _ in ipairs(keep) do
      close[i] = keep[i]:gsub("\r\n\r\n$", "\r\nConnection: close\r\n\r\n")
   end
   sent = id - 1 -- each thread starts at a session of its own
   answers = 0
   closes = 0
   statuses = {}
end

function request()
   sent = sent + 1
   local i = sent % #keep + 1
   if close_every > 0 and sent % close_every == 0 then
      closes = closes + 1
      return close[i]
   end
   return keep[i]
end

function response(status, headers, body)
   local label = tostring(status)
   if (status == 429 or status == 503) and not (headers["Retry-After"] or headers["retry-after"]) then
      label = label .. " no Retry-After"
   end
   statuses[label] = (statuses[label] or 0) + 1
   answers = answers + 1
   if max_answers > 0 and answers >= max_answers then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local counts, recycled = {}, 0
   for _, thread in ipairs(threads) do
      for label, count in pairs(thread:get("statuses")) do
         counts[label] = (counts[label] or 0) + count
      end
      recycled = recycled + thread:get("closes")
   end
   local parts = {}
   for label, count in pairs(counts) do
      table.insert(parts, string.format('"%s": %d', label, count))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "closes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}, ' ..
      '"statuses": {%s}, "latency_us": {"p50": %.1f, "p95": %.1f, "p99": %.1f, ' ..
      '"max": %.1f, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes, recycled,
      e.connect, e.read, e.write, e.timeout, e.status,
      table.concat(parts, ", "),
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, latency.mean))
end
