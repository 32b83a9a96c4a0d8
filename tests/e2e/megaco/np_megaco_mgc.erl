%% SPDX-License-Identifier: GPL-2.0-only
%% A media gateway controller for tests/e2e/megaco.sh on Erlang's H.248
%% stack (erlang-megaco, text over UDP, version 1). Each round (one per
%% text encoder, np_megaco_lib:rounds/0) it listens on port 2944, accepts
%% the ServiceChange of two gateways (both behind natproxy, which they
%% reach through their NATs) and joins them with one RTP stream: Add on
%% the first with Local CHOOSE, Add on the second with Local CHOOSE and the
%% first's Local as Remote, Modify of the first with the second's Local as
%% Remote. When the script has sent the media it Subtracts both and
%% reports the statistics their replies carry.
%%
%%   erl -noshell -pa DIR -run np_megaco_mgc main RUNDIR OWN_IP
%%
%% Files in RUNDIR: round.R (the script's) starts round R; listening.R
%% (here) once the port is open; media.R (here) once the stream is set up:
%% per gateway "gw MID ctx C term T local IP:PORT"; end.R (the script's)
%% asks for the Subtracts; result.R (here): per gateway "gw MID ctx C term
%% T ps N pr M". The stack's callbacks (np_megaco_user) hand requests to
%% requests/2.
-module(np_megaco_mgc).

-include_lib("megaco/include/megaco.hrl").
-include_lib("megaco/include/megaco_message_v1.hrl").

-export([main/1]).
-export([requests/2]).

-define(WAIT_MS, 30000).

-record(gw, {ch, mid, ctx, tid, local}).

main([Dir, OwnIp]) ->
    ok = megaco:start(),
    register(np_megaco_ctl, self()),
    Mid = np_megaco_lib:ip_mid(np_megaco_lib:ip(OwnIp), ?megaco_ip_port_text),
    ok = megaco:start_user(Mid, [{user_mod, np_megaco_user},
                                 {user_args, [fun requests/2]} |
                                 np_megaco_lib:timers()]),
    {ok, Sup} = megaco_udp:start_transport(),
    RH = megaco:user_info(Mid, receive_handle),
    lists:foreach(fun({R, Enc}) -> round(Dir, R, Enc, RH, Sup) end,
                  np_megaco_lib:rounds()),
    erlang:halt(0).

round(Dir, R, Enc, RH0, Sup) ->
    N = integer_to_list(R),
    np_megaco_lib:await_file(filename:join(Dir, "round." ++ N), ?WAIT_MS),
    RH = RH0#megaco_receive_handle{encoding_mod = Enc, encoding_config = [],
                                   send_mod = megaco_udp},
    {ok, Handle, _Ctl} = megaco_udp:open(Sup, [{port, ?megaco_ip_port_text},
                                              {receive_handle, RH}]),
    np_megaco_lib:log("mgc", "round ~w (~w): waiting for two gateways", [R, Enc]),
    np_megaco_lib:put_file(Dir, "listening." ++ N, ["ok"]),
    A0 = next_gateway(),
    B0 = next_gateway(),
    A1 = add(A0, asn1_NOVALUE),
    B1 = add(B0, A1#gw.local),
    modify(A1, B1#gw.local),
    np_megaco_lib:put_file(Dir, "media." ++ N, [describe(G) || G <- [A1, B1]]),
    np_megaco_lib:await_file(filename:join(Dir, "end." ++ N), ?WAIT_MS),
    Results = [subtract(G) || G <- [A1, B1]],
    np_megaco_lib:put_file(Dir, "result." ++ N, Results),
    [begin megaco:cancel(C, round_over), megaco:disconnect(C, round_over) end
     || C <- megaco:user_info(RH0#megaco_receive_handle.local_mid, connections)],
    megaco_udp:close(Handle),
    np_megaco_lib:log("mgc", "round ~w over", [R]).

%% The next gateway whose ServiceChange this round's transport got.
next_gateway() ->
    receive
        {registered, CH, Mid} ->
            np_megaco_lib:log("mgc", "gateway ~s registered", [Mid]),
            #gw{ch = CH, mid = Mid}
    after ?WAIT_MS ->
            np_megaco_lib:fail("no gateway registered", [])
    end.

describe(#gw{mid = Mid, ctx = Ctx, tid = Tid, local = Local}) ->
    {ok, {Ip, Port}} = np_megaco_lib:sdp_addr(Local),
    io_lib:format("gw ~s ctx ~w term ~s local ~s:~w",
                  [Mid, Ctx, np_megaco_lib:term_text(Tid), inet:ntoa(Ip), Port]).

media(Local, Remote) ->
    {mediaDescriptor,
     #'MediaDescriptor'{streams = {oneStream,
                                   #'StreamParms'{localDescriptor = Local,
                                                  remoteDescriptor = Remote}}}}.

choose() ->
    #'LocalRemoteDescriptor'{propGrps = [np_megaco_lib:sdp("$", "$")]}.

%% One command in one transaction; its reply.
call(#gw{ch = CH, mid = Mid}, Ctx, Cmd) ->
    AR = #'ActionRequest'{contextId = Ctx,
                          commandRequests = [#'CommandRequest'{command = Cmd}]},
    case megaco:call(CH, [AR], []) of
        {_V, {ok, [#'ActionReply'{contextId = C, commandReply = [Reply]}]}} ->
            {C, Reply};
        Other ->
            np_megaco_lib:fail("~s: ~p: ~p", [Mid, element(1, Cmd), Other])
    end.

add(G, Remote) ->
    Req = #'AmmRequest'{terminationID = [#megaco_term_id{id = ["$"]}],
                        descriptors = [media(choose(), Remote)]},
    case call(G, ?megaco_choose_context_id, {addReq, Req}) of
        {Ctx, {addReply, #'AmmsReply'{terminationID = [Tid],
                                       terminationAudit = Audit}}} ->
            Local = local(Audit),
            np_megaco_lib:sdp_addr(Local) =/= error orelse
                np_megaco_lib:fail("~s: Add replied without an address: ~p",
                                   [G#gw.mid, Audit]),
            G#gw{ctx = Ctx, tid = Tid, local = Local};
        Other ->
            np_megaco_lib:fail("~s: Add: ~p", [G#gw.mid, Other])
    end.

local([{mediaDescriptor, #'MediaDescriptor'{streams = {oneStream, SP}}} | _]) ->
    SP#'StreamParms'.localDescriptor;
local([_ | T]) ->
    local(T);
local(_) ->
    undefined.

modify(#gw{ctx = Ctx, tid = Tid} = G, Remote) ->
    Req = #'AmmRequest'{terminationID = [Tid],
                        descriptors = [media(asn1_NOVALUE, Remote)]},
    case call(G, Ctx, {modReq, Req}) of
        {_, {modReply, _}} -> ok;
        Other -> np_megaco_lib:fail("~s: Modify: ~p", [G#gw.mid, Other])
    end.

subtract(#gw{ctx = Ctx, tid = Tid} = G) ->
    Req = #'SubtractRequest'{terminationID = [Tid]},
    case call(G, Ctx, {subtractReq, Req}) of
        {_, {subtractReply, #'AmmsReply'{terminationAudit = Audit}}} ->
            Stats = [{N, V} || {statisticsDescriptor, Ps} <- Audit,
                               #'StatisticsParameter'{statName = N,
                                                      statValue = [V]} <- Ps],
            io_lib:format("gw ~s ctx ~w term ~s ps ~s pr ~s",
                          [G#gw.mid, Ctx, np_megaco_lib:term_text(Tid),
                           proplists:get_value("rtp/ps", Stats, "-"),
                           proplists:get_value("rtp/pr", Stats, "-")]);
        Other ->
            np_megaco_lib:fail("~s: Subtract: ~p", [G#gw.mid, Other])
    end.


%% A gateway's ServiceChange on ROOT registers it (no MgcIdToTry in the
%% reply: that would send it elsewhere); one on a termination (the
%% proxy's Forced when it loses a gateway) is acknowledged.
requests(CH, [#'ActionRequest'{contextId = Ctx, commandRequests = [CR]}]) ->
    case CR#'CommandRequest'.command of
        {serviceChangeReq, #'ServiceChangeRequest'{terminationID = Tid}} ->
            [?megaco_root_termination_id] =:= Tid andalso
                (np_megaco_ctl ! {registered, CH,
                                  np_megaco_lib:mid_text(CH#megaco_conn_handle.remote_mid)}),
            Rep = #'ServiceChangeReply'{
                     terminationID = Tid,
                     serviceChangeResult = {serviceChangeResParms,
                                            #'ServiceChangeResParm'{}}},
            [#'ActionReply'{contextId = Ctx,
                            commandReply = [{serviceChangeReply, Rep}]}];
        _ ->
            #'ErrorDescriptor'{errorCode = ?megaco_not_implemented}
    end;
requests(_CH, _ARs) ->
    #'ErrorDescriptor'{errorCode = ?megaco_not_implemented}.
