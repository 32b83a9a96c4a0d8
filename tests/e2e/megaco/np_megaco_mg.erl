%% SPDX-License-Identifier: GPL-2.0-only
%% A media gateway for tests/e2e/megaco.sh on Erlang's H.248 stack
%% (erlang-megaco, text over UDP, version 1): it registers with a
%% ServiceChange Restart on ROOT, answers the controller's Add (it chooses
%% the context and an ephemeral termination and writes its own RTP address
%% in Local), Modify (its Remote), Subtract (with the packets it sent and
%% received as statistics) and AuditValue on ROOT (the proxy's keepalive).
%% Once it knows where to send and the test script says "go", it sends a
%% bounded RTP stream from the port it announced and counts what arrives
%% there. Two rounds, one per text encoder (np_megaco_lib:rounds/0), in one
%% VM; each round re-registers from the same port, as a rebooted gateway.
%%
%%   erl -noshell -pa DIR -run np_megaco_mg main RUNDIR NAME OWN_IP MGC_IP
%%       RTP_PORT CONTEXT_BASE
%%
%% Files in RUNDIR (NAME.* written here, listening.R by the MGC, go.R by
%% the script): listening.R starts round R; NAME.registered.R once the
%% ServiceChange is replied; go.R starts the RTP; NAME.sent.R once sent;
%% NAME.done.R after the Subtract, with "ps N pr M ctx C term T".
%% The stack's callbacks (np_megaco_user) hand requests to requests/2.
-module(np_megaco_mg).

-include_lib("megaco/include/megaco.hrl").
-include_lib("megaco/include/megaco_message_v1.hrl").

-export([main/1]).
-export([requests/2]).

-define(PACKETS, 50).
-define(WAIT_MS, 30000).

-record(st, {dir, name, ip, rtp_port, ctx, round,
             sock, remote, term, sending = false, ps = 0, pr = 0,
             done = false}).

main([Dir, Name, OwnIp, MgcIp, RtpPort, CtxBase]) ->
    ok = megaco:start(),
    register(np_megaco_gw, self()),
    {ok, Sup} = megaco_udp:start_transport(),
    St = #st{dir = Dir, name = Name, ip = np_megaco_lib:ip(OwnIp),
             rtp_port = list_to_integer(RtpPort)},
    lists:foreach(
      fun({R, Enc}) ->
              round(St#st{round = R, ctx = list_to_integer(CtxBase) + R},
                    Enc, Sup, np_megaco_lib:ip(MgcIp))
      end, np_megaco_lib:rounds()),
    erlang:halt(0).

file(#st{dir = Dir, round = R}, Name) ->
    filename:join(Dir, Name ++ "." ++ integer_to_list(R)).

round(St, Enc, Sup, MgcIp) ->
    Who = St#st.name,
    np_megaco_lib:await_file(file(St, "listening"), ?WAIT_MS),
    Mid = np_megaco_lib:ip_mid(St#st.ip, ?megaco_ip_port_text),
    ok = megaco:start_user(Mid, [{user_mod, np_megaco_user},
                                 {user_args, [fun requests/2]},
                                 {encoding_mod, Enc},
                                 {encoding_config, []},
                                 {send_mod, megaco_udp} |
                                 np_megaco_lib:timers()]),
    RH = megaco:user_info(Mid, receive_handle),
    {ok, Handle, Ctl} = megaco_udp:open(Sup, [{port, ?megaco_ip_port_text},
                                             {receive_handle, RH}]),
    SH = megaco_udp:create_send_handle(Handle, MgcIp, ?megaco_ip_port_text),
    {ok, CH} = megaco:connect(RH, preliminary_mid, SH, Ctl),
    np_megaco_lib:log(Who, "round ~w (~w): registering", [St#st.round, Enc]),
    register_with(CH),
    np_megaco_lib:put_file(St#st.dir, Who ++ ".registered." ++
                               integer_to_list(St#st.round), ["ok"]),
    Done = serve(tick(St)),
    np_megaco_lib:put_file(
      St#st.dir, Who ++ ".done." ++ integer_to_list(St#st.round),
      [io_lib:format("ps ~w pr ~w ctx ~w term ~s",
                     [Done#st.ps, Done#st.pr, Done#st.ctx, Done#st.term])]),
    %% A moment for a retransmitted Subtract to find its reply.
    timer:sleep(300),
    %% The connection made to preliminary_mid took the controller's mId
    %% with its reply: every connection of the user goes.
    [begin megaco:cancel(C, round_over), megaco:disconnect(C, round_over) end
     || C <- megaco:user_info(Mid, connections)],
    megaco_udp:close(Handle),
    ok = megaco:stop_user(Mid),
    np_megaco_lib:log(Who, "round ~w over", [St#st.round]).

register_with(CH) ->
    Parm = #'ServiceChangeParm'{serviceChangeMethod = restart,
                                serviceChangeReason = [?megaco_cold_boot]},
    Req = #'ServiceChangeRequest'{terminationID = [?megaco_root_termination_id],
                                  serviceChangeParms = Parm},
    AR = #'ActionRequest'{contextId = ?megaco_null_context_id,
                          commandRequests = [#'CommandRequest'{
                                                command = {serviceChangeReq, Req}}]},
    case megaco:call(CH, [AR], []) of
        {_V, {ok, [#'ActionReply'{commandReply = [{serviceChangeReply, Rep}]}]}} ->
            case Rep#'ServiceChangeReply'.serviceChangeResult of
                {serviceChangeResParms, _} -> ok;
                Other -> np_megaco_lib:fail("ServiceChange refused: ~p", [Other])
            end;
        Other ->
            np_megaco_lib:fail("ServiceChange: ~p", [Other])
    end.

tick(St) ->
    erlang:send_after(50, self(), tick),
    St.

%% Requests from the controller (through handle_trans_request), RTP, and
%% the script's go, until a Subtract ends the termination.
serve(#st{done = true} = St) ->
    St;
serve(St) ->
    receive
        {request, From, ARs} ->
            {Replies, St1} = lists:mapfoldl(fun action/2, St, ARs),
            From ! {replies, Replies},
            serve(St1);
        {udp, Sock, _Ip, _Port, _Data} when Sock =:= St#st.sock ->
            serve(St#st{pr = St#st.pr + 1});
        {sent, N} ->
            np_megaco_lib:put_file(St#st.dir, St#st.name ++ ".sent." ++
                                       integer_to_list(St#st.round), ["ok"]),
            serve(St#st{ps = N});
        tick ->
            serve(tick(maybe_send(St)))
    after ?WAIT_MS ->
            np_megaco_lib:fail("~s: nothing to do in round ~w",
                               [St#st.name, St#st.round])
    end.

maybe_send(#st{sending = false, remote = {Ip, Port}, sock = S} = St)
  when S =/= undefined ->
    case filelib:is_file(file(St, "go")) of
        true ->
            Me = self(),
            spawn_link(fun() -> Me ! {sent, send_rtp(S, Ip, Port)} end),
            St#st{sending = true};
        false ->
            St
    end;
maybe_send(St) ->
    St.

%% The first packet alone (it latches the proxy's relay to this side), the
%% rest after a pause, 10 ms apart; RTP version 2, PCMU, 160 samples.
send_rtp(S, Ip, Port) ->
    Ssrc = erlang:phash2(self()),
    lists:foreach(
      fun(Seq) ->
              Pkt = <<16#80, 0, Seq:16, (Seq * 160):32, Ssrc:32,
                      (binary:copy(<<16#ff>>, 160))/binary>>,
              ok = gen_udp:send(S, Ip, Port, Pkt),
              timer:sleep(case Seq of 1 -> 300; _ -> 10 end)
      end, lists:seq(1, ?PACKETS)),
    ?PACKETS.

action(#'ActionRequest'{contextId = Ctx, commandRequests = CRs}, St) ->
    {Replies, St1} = lists:mapfoldl(fun(#'CommandRequest'{command = C}, S) ->
                                            command(C, Ctx, S)
                                    end, St, CRs),
    Id = case Ctx of ?megaco_choose_context_id -> St1#st.ctx; _ -> Ctx end,
    {#'ActionReply'{contextId = Id, commandReply = Replies}, St1}.

command({auditValueRequest, #'AuditRequest'{terminationID = Tid}}, _Ctx, St) ->
    {{auditValueReply, {auditResult, #'AuditResult'{terminationID = Tid,
                                                     terminationAuditResult = []}}},
     St};
command({addReq, #'AmmRequest'{descriptors = Ds}}, _Ctx, St) ->
    np_megaco_lib:log(St#st.name, "Add", []),
    {ok, S} = gen_udp:open(St#st.rtp_port, [binary, {ip, St#st.ip},
                                            {active, true}]),
    Term = "rtp/" ++ integer_to_list(St#st.ctx),
    Tid = #megaco_term_id{id = string:tokens(Term, "/")},
    Local = #'LocalRemoteDescriptor'{
               propGrps = [np_megaco_lib:sdp(inet:ntoa(St#st.ip),
                                             integer_to_list(St#st.rtp_port))]},
    Media = #'MediaDescriptor'{streams = {oneStream,
                                          #'StreamParms'{localDescriptor = Local}}},
    St1 = remote(Ds, St#st{sock = S, term = Term}),
    {{addReply, #'AmmsReply'{terminationID = [Tid],
                             terminationAudit = [{mediaDescriptor, Media}]}},
     St1};
command({modReq, #'AmmRequest'{terminationID = Tids, descriptors = Ds}}, _Ctx, St) ->
    np_megaco_lib:log(St#st.name, "Modify", []),
    {{modReply, #'AmmsReply'{terminationID = Tids}}, remote(Ds, St)};
command({subtractReq, #'SubtractRequest'{terminationID = Tids}}, _Ctx, St) ->
    np_megaco_lib:log(St#st.name, "Subtract: sent ~w, received ~w",
                      [St#st.ps, St#st.pr]),
    Stats = [#'StatisticsParameter'{statName = "rtp/ps",
                                    statValue = [integer_to_list(St#st.ps)]},
             #'StatisticsParameter'{statName = "rtp/pr",
                                    statValue = [integer_to_list(St#st.pr)]}],
    St#st.sock =/= undefined andalso gen_udp:close(St#st.sock),
    {{subtractReply, #'AmmsReply'{terminationID = Tids,
                                  terminationAudit = [{statisticsDescriptor, Stats}]}},
     St#st{done = true, sock = undefined}};
command(Other, _Ctx, St) ->
    np_megaco_lib:log(St#st.name, "unexpected ~p", [Other]),
    {{addReply, #'AmmsReply'{terminationID = []}}, St}.

%% The Remote SDP of a media descriptor, if any: where to send.
remote([{mediaDescriptor, #'MediaDescriptor'{streams = {oneStream, SP}}} | _], St) ->
    case np_megaco_lib:sdp_addr(SP#'StreamParms'.remoteDescriptor) of
        {ok, Where} ->
            np_megaco_lib:log(St#st.name, "remote ~p", [Where]),
            St#st{remote = Where};
        error -> St
    end;
remote([_ | Ds], St) ->
    remote(Ds, St);
remote([], St) ->
    St.


%% The controller's transactions, answered by serve/1 (in np_megaco_user's
%% process, the stack's).
requests(_CH, ARs) ->
    np_megaco_gw ! {request, self(), ARs},
    receive
        {replies, Replies} -> Replies
    after 5000 ->
            #'ErrorDescriptor'{errorCode = ?megaco_internal_gateway_error}
    end.
