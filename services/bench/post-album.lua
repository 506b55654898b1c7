-- wrk: POST a new album per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Load Test","artist":"wrk","price":"9.99"}'
