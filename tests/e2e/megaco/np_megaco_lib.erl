%% SPDX-License-Identifier: GPL-2.0-only
%% What the test MG and MGC (np_megaco_mg, np_megaco_mgc) share: the run's
%% two rounds and their encodings, SDP as megaco property parameters, the
%% files through which tests/e2e/megaco.sh steps them, and their logs.
-module(np_megaco_lib).

-include_lib("megaco/include/megaco.hrl").
-include_lib("megaco/include/megaco_message_v1.hrl").

-export([rounds/0, timers/0, sdp/2, sdp_addr/1, await_file/2, put_file/3,
         log/3, fail/2, ip/1, ip_mid/2, mid_text/1, term_text/1]).

%% Round number and the text encoder the gateways and the controller
%% speak in it: the pretty form first, then the compact one.
rounds() ->
    [{1, megaco_pretty_text_encoder}, {2, megaco_compact_text_encoder}].

%% Requests sent again every 400 ms until replied, 8 times at most (the
%% stack's default waits 7 s and gives up): a lost datagram costs the test
%% little, and the proxy sees real retransmissions.
timers() ->
    [{request_timer, #megaco_incr_timer{wait_for = 400, factor = 1, incr = 0,
                                        max_retries = 8}}].

%% SDP of one audio stream at Addr:Port (strings; "$" for CHOOSE).
sdp(Addr, Port) ->
    [#'PropertyParm'{name = "v", value = ["0"]},
     #'PropertyParm'{name = "c", value = ["IN IP4 " ++ Addr]},
     #'PropertyParm'{name = "m", value = ["audio " ++ Port ++ " RTP/AVP 0"]}].

%% {ok, {IpTuple, Port}} of the first group of a Local/Remote descriptor's
%% SDP, or error when it has none or a placeholder.
sdp_addr(#'LocalRemoteDescriptor'{propGrps = [Group | _]}) ->
    Value = fun(Name) ->
                    case lists:keyfind(Name, #'PropertyParm'.name, Group) of
                        #'PropertyParm'{value = [V | _]} -> string:tokens(V, " ");
                        false -> []
                    end
            end,
    case {Value("c"), Value("m")} of
        {["IN", "IP4", A], ["audio", P | _]} ->
            case {inet:parse_ipv4_address(A), string:to_integer(P)} of
                {{ok, Ip}, {Port, []}} -> {ok, {Ip, Port}};
                _ -> error
            end;
        _ -> error
    end;
sdp_addr(_) ->
    error.

%% Waits (bounded) for Dir/Name, created by the test script.
await_file(Path, Ms) when Ms =< 0 ->
    fail("no ~s in time", [Path]);
await_file(Path, Ms) ->
    case filelib:is_file(Path) of
        true -> ok;
        false -> timer:sleep(50), await_file(Path, Ms - 50)
    end.

%% Writes Dir/Name whole (a temporary name first: the test script polls).
put_file(Dir, Name, Lines) ->
    Tmp = filename:join(Dir, "." ++ Name),
    ok = file:write_file(Tmp, [[L, $\n] || L <- Lines]),
    ok = file:rename(Tmp, filename:join(Dir, Name)).

log(Who, Fmt, Args) ->
    io:format("~s ~s: " ++ Fmt ++ "~n", [ts(), Who | Args]).

fail(Fmt, Args) ->
    io:format("~s FAILED: " ++ Fmt ++ "~n", [ts() | Args]),
    erlang:halt(1).

ts() ->
    {_, _, Us} = Now = os:timestamp(),
    {_, {H, M, S}} = calendar:now_to_local_time(Now),
    io_lib:format("~2..0w:~2..0w:~2..0w.~3..0w", [H, M, S, Us div 1000]).

ip(Text) ->
    {ok, Ip} = inet:parse_ipv4_address(Text),
    Ip.

ip_mid(Ip, Port) ->
    {ip4Address, #'IP4Address'{address = tuple_to_list(Ip), portNumber = Port}}.

mid_text({ip4Address, #'IP4Address'{address = A, portNumber = P}}) ->
    lists:flatten(io_lib:format("[~s]:~w", [inet:ntoa(list_to_tuple(A)), P]));
mid_text(Other) ->
    lists:flatten(io_lib:format("~p", [Other])).

term_text(#megaco_term_id{id = Parts}) ->
    string:join(Parts, "/").
