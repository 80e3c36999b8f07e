-- wrk script of scripts/bench-server.sh: the same GET for every server, sent one at a time or
-- pipelined, and a machine-readable summary line for the script to parse.
--
-- WRK_PIPELINE=N (environment, default 1) requests per write on each connection. With 1, no
-- request() function is defined, so wrk stays on its static fast path and sends the prepared
-- request itself; with N > 1, request() hands wrk N copies back to back and wrk counts each
-- response separately.
local depth = tonumber(os.getenv("WRK_PIPELINE") or "1") or 1

if depth > 1 then
   local batch

   init = function(args)
      local requests = {}
      for i = 1, depth do
         requests[i] = wrk.format("GET", wrk.path)
      end
      batch = table.concat(requests)
   end

   request = function()
      return batch
   end
end

-- Latency is left out: with pipelining, wrk times a whole batch, and bench/load/run.py measures
-- latency at a fixed rate with h2load instead.
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "wrk-result requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d " ..
      "write_errors=%d status_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout))
end
