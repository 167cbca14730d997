-- pipeline.lua: makes wrk send 16 pipelined `GET /` requests per write (used by benches/http.sh).
--
-- How wrk handles this: it calls `request()` once per batch and, at startup, parses the string
-- it returns to count how many requests it holds (here 16). It then writes the whole batch at once
-- and waits for that many responses before writing the next batch. Every response counts as one
-- request in wrk's "requests" and "Requests/sec"; latency is recorded once per batch (from the
-- batch's write to its last response), so the p99 is that of a 16-request round trip.

-- Requests per write. Change both here and in docs/benchmarks.md if you change it.
local depth = 16

-- The batch, built once: the same request `depth` times. wrk.format adds the Host header from
-- the URL given on the command line, like the non-pipelined run sends.
local batch

init = function(args)
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format("GET", "/")
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
