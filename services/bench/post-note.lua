-- wrk: POST a note per request; TOKEN comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"title":"load","body":"' .. string.rep("x", 256) .. '","tags":["bench"]}'
